import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { RedisConnection } from "bullmq";

/** One of BullMQ's Lua scripts, as it defines it on a connection. */
export interface QueueScript {
  /** BullMQ's command name (`moveToActive:<version>`). */
  name: string;
  lua: string;
  /** SHA-1 of `lua`: what EVALSHA names it by. */
  sha: string;
  numberOfKeys?: number;
}

let captured: Promise<readonly QueueScript[]> | undefined;

/**
 * Every Lua script BullMQ defines on a connection (its Queues and Workers run nothing else), taken
 * from BullMQ itself: a connection that never connects records what BullMQ's `loadCommands` hands
 * to ioredis' `defineCommand`. So the set follows the installed BullMQ, with no copy of its list.
 */
export function queueScripts(): Promise<readonly QueueScript[]> {
  captured ??= (async () => {
    const scripts: QueueScript[] = [];
    const probe = new Redis({ lazyConnect: true, enableOfflineQueue: false });
    probe.defineCommand = (name, definition) => {
      const sha = createHash("sha1").update(definition.lua).digest("hex");
      scripts.push({ name, lua: definition.lua, sha, ...(definition.numberOfKeys === undefined ? {} : { numberOfKeys: definition.numberOfKeys }) });
    };
    const conn = new RedisConnection(probe, { shared: true, blocking: false, skipVersionCheck: true, skipWaitingForReady: true });
    try {
      await conn.client;
    } finally {
      await conn.close().catch(() => undefined);
      probe.disconnect();
    }
    if (scripts.length === 0) throw new Error("BullMQ defined no Lua scripts: cannot preload the agents' queue scripts");
    return scripts;
  })();
  // A failed capture is not kept: the next caller tries again.
  captured.catch(() => (captured = undefined));
  return captured;
}

/**
 * Makes sure every BullMQ script is in Redis' script cache: one `SCRIPT EXISTS` of them all, then
 * one pipeline of `SCRIPT LOAD` for those missing. Resolves to how many it loaded. Needs a
 * connection allowed to run SCRIPT (an admin's, not an agent's).
 */
export async function ensureQueueScripts(admin: Redis): Promise<number> {
  const scripts = await queueScripts();
  const cached = (await admin.call("SCRIPT", "EXISTS", ...scripts.map((s) => s.sha))) as number[];
  const missing = scripts.filter((_, i) => cached[i] !== 1);
  if (missing.length === 0) return 0;
  const pipeline = admin.pipeline();
  for (const s of missing) pipeline.call("SCRIPT", "LOAD", s.lua);
  const results = (await pipeline.exec()) ?? [];
  for (const [i, [err, sha]] of results.entries()) {
    if (err) throw err;
    if (sha !== missing[i]!.sha) throw new Error(`Redis cached script ${missing[i]!.name} as ${String(sha)}, not ${missing[i]!.sha}`);
  }
  return missing.length;
}
