import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { DEFAULT_KEY_PREFIX, nodeKeyPattern } from "./names.js";
import { ensureQueueScripts } from "./queue-scripts.js";

/**
 * The commands an agent's Redis user may run — what a BullMQ 6.7 Worker needs to consume its
 * queue (found by running one under `-@all` plus this list and reading `ACL LOG` until nothing was
 * denied, with the agents' Worker options and jobs that complete, fail, retry with and without
 * backoff, wait delayed or prioritized, and stall; the ACL test in this package re-checks it):
 * - EVALSHA: BullMQ's Lua scripts, by their SHA-1 only. Not EVAL, EVAL_RO, SCRIPT, FUNCTION or
 *   FCALL: with any of them the agent runs code of its own inside Redis, and a script that writes
 *   one key and then loops forever makes Redis answer BUSY to everyone until `SHUTDOWN NOSAVE`
 *   (SCRIPT KILL refuses a script that wrote). The control plane keeps BullMQ's scripts cached
 *   (`ensureQueueScripts`, `QueueScriptKeeper`) and agents' clients never fall back to EVAL
 *   (`restricted` in `createRedisQueueBackend`);
 * - BZPOPMIN: waiting on the queue marker; PING: health checks; SELECT: a database index in the URL;
 * - the data commands those scripts call (Redis checks ACLs on commands run inside scripts too). A
 *   script stops at its first denied command and keeps the writes it made before, so this list
 *   errs on the side of what BullMQ's scripts may call; each of these only reaches the agent's
 *   own keys.
 * Key access is limited separately to `bull:node.<name>:*`, and no pub/sub channel is allowed
 * (BullMQ uses streams). Everything else (INFO, CLIENT, CONFIG, KEYS, FLUSH*, DEBUG, MODULE, …) is
 * denied, which is why agents connect with `restricted: true`.
 */
export const AGENT_REDIS_COMMANDS: readonly string[] = [
  "evalsha",
  "bzpopmin",
  "ping",
  "select",
  // Called from BullMQ's Lua scripts:
  "del",
  "exists",
  "get",
  "hdel",
  "hexists",
  "hget",
  "hgetall",
  "hincrby",
  "hlen",
  "hmget",
  "hmset",
  "hset",
  "incr",
  "incrby",
  "lindex",
  "llen",
  "lpop",
  "lpos",
  "lpush",
  "lrange",
  "lrem",
  "lset",
  "ltrim",
  "pexpire",
  "pexpireat",
  "pttl",
  "rename",
  "rpop",
  "rpoplpush",
  "rpush",
  "sadd",
  "scard",
  "set",
  "sismember",
  "smembers",
  "srem",
  "time",
  "type",
  "unlink",
  "xadd",
  "xdel",
  "xlen",
  "xrange",
  "xread",
  "xtrim",
  "zadd",
  "zcard",
  "zcount",
  "zlexcount",
  "zpopmin",
  "zrange",
  "zrangebylex",
  "zrangebyscore",
  "zrem",
  "zremrangebyrank",
  "zremrangebyscore",
  "zrevrange",
  "zrevrangebyscore",
  "zscore",
];

export interface AgentRedisCredentials {
  username: string;
  password: string;
  /** Hex SHA-256 of the password: what the control plane keeps to restore the user ({@link restoreAgentRedisUsers}). */
  passwordSha256: string;
}

/** A node agent's user as the control plane keeps it (no plaintext). */
export interface KeptAgentRedisUser {
  nodeName: string;
  username: string;
  passwordSha256: string;
}

export interface AgentRedisUserOptions {
  /** BullMQ key prefix of the queues. @defaultValue "bull" */
  prefix?: string;
  /** Username = this + node name. @defaultValue "eiaas-agent-" */
  usernamePrefix?: string;
  /** Disconnect sessions still authenticated with the user's previous password. @defaultValue true */
  killExistingSessions?: boolean;
}

/** The ACL rules of a node's agent user (after `reset`, before the password). */
export function agentRedisAclRules(nodeName: string, prefix = DEFAULT_KEY_PREFIX): string[] {
  return ["resetkeys", `~${nodeKeyPattern(nodeName, prefix)}`, "resetchannels", "-@all", ...AGENT_REDIS_COMMANDS.map((c) => `+${c}`)];
}

export function agentRedisUsername(nodeName: string, usernamePrefix = "eiaas-agent-"): string {
  return `${usernamePrefix}${nodeName}`;
}

/**
 * Creates (or resets, with a fresh password) the Redis ACL user of a node's agent: it can run
 * {@link AGENT_REDIS_COMMANDS} on keys matching `bull:node.<name>:*` only, so it consumes its own
 * queue and cannot read or write another node's (NOPERM). Needs an admin connection. The password
 * is sent as its SHA-256 (`#…`), so the plaintext never reaches Redis or its logs. BullMQ's scripts
 * are loaded first: the user can run them only by SHA-1, so they must be cached before it connects
 * (after a Redis restart, `QueueScriptKeeper` loads them again).
 */
export async function provisionAgentRedisUser(admin: Redis, nodeName: string, options: AgentRedisUserOptions = {}): Promise<AgentRedisCredentials> {
  await ensureQueueScripts(admin);
  const username = agentRedisUsername(nodeName, options.usernamePrefix);
  const password = randomBytes(32).toString("base64url");
  const hash = createHash("sha256").update(password).digest("hex");
  await admin.call("ACL", "SETUSER", username, "reset", "on", `#${hash}`, ...agentRedisAclRules(nodeName, options.prefix));
  if (options.killExistingSessions ?? true) {
    // Sessions authenticated with the old password keep their rights until they disconnect.
    await admin.call("CLIENT", "KILL", "USER", username);
  }
  return { username, password, passwordSha256: hash };
}

/**
 * Creates again the agent users Redis does not have (it restarted empty, or failed over to a fresh
 * server), with the passwords' hashes the control plane kept — so agents log in again with what
 * they hold — and the same rules as {@link provisionAgentRedisUser}. One `ACL USERS`, then one
 * pipeline of `ACL SETUSER` for the missing. Resolves to the usernames restored.
 */
export async function restoreAgentRedisUsers(admin: Redis, users: readonly KeptAgentRedisUser[], options: Pick<AgentRedisUserOptions, "prefix"> = {}): Promise<string[]> {
  if (users.length === 0) return [];
  const present = new Set((await admin.call("ACL", "USERS")) as string[]);
  const missing = users.filter((u) => !present.has(u.username) && /^[0-9a-f]{64}$/.test(u.passwordSha256));
  if (missing.length === 0) return [];
  const pipeline = admin.pipeline();
  for (const u of missing) pipeline.call("ACL", "SETUSER", u.username, "reset", "on", `#${u.passwordSha256}`, ...agentRedisAclRules(u.nodeName, options.prefix));
  const results = (await pipeline.exec()) ?? [];
  for (const [err] of results) if (err) throw err;
  return missing.map((u) => u.username);
}

/** Deletes a node's agent user and disconnects its sessions (the node was deleted). */
export async function revokeAgentRedisUser(admin: Redis, nodeName: string, options: Pick<AgentRedisUserOptions, "usernamePrefix"> = {}): Promise<void> {
  const username = agentRedisUsername(nodeName, options.usernamePrefix);
  await admin.call("ACL", "DELUSER", username);
  await admin.call("CLIENT", "KILL", "USER", username).catch(() => undefined);
}

/** `redisUrl` with the agent's credentials in it (what the register endpoint hands out). */
export function agentRedisUrl(redisUrl: string, credentials: Pick<AgentRedisCredentials, "username" | "password">): string {
  const u = new URL(redisUrl);
  u.username = encodeURIComponent(credentials.username);
  u.password = encodeURIComponent(credentials.password);
  return u.toString();
}
