import type { Redis } from "ioredis";
import type { LeaseStore, NodeLease } from "./lease.js";

export interface RedisLeaseStoreOptions {
  /** Key prefix: `<prefix>:times` (sorted set by renew time) and `<prefix>:holders` (hash). @defaultValue "eiaas:leases" */
  keyPrefix?: string;
}

// Renew only moves forward: a renewal older than the stored one changes nothing.
const RENEW_LUA = `
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if current and tonumber(current) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1`;

interface RenewClient {
  eiaasRenewLease(times: string, holders: string, node: string, ms: number, holder: string): Promise<number>;
}

function hasRenewCommand(redis: Redis): redis is Redis & RenewClient {
  return "eiaasRenewLease" in redis && typeof redis.eiaasRenewLease === "function";
}

/** The client's renew command, defined on it first unless another store on it did already. */
function renewCommand(redis: Redis): RenewClient["eiaasRenewLease"] {
  if (!hasRenewCommand(redis)) redis.defineCommand("eiaasRenewLease", { numberOfKeys: 2, lua: RENEW_LUA });
  if (!hasRenewCommand(redis)) throw new Error("ioredis did not define the eiaasRenewLease command");
  return redis.eiaasRenewLease.bind(redis);
}

/**
 * Leases in Redis: a sorted set scored by renew time (so "expired" is one range query however
 * large the fleet) and a hash of holders. No TTLs: an expired lease must stay visible for the
 * lifecycle controller to act on it. Redis losing its data loses the leases; the controller then
 * sees no lease and falls back to the node's `lastHeartbeatTime` in Postgres.
 *
 * Uses the caller's client and leaves it open on close.
 */
export function createRedisLeaseStore(redis: Redis, options: RedisLeaseStoreOptions = {}): LeaseStore {
  const prefix = options.keyPrefix ?? "eiaas:leases";
  const times = `${prefix}:times`;
  const holders = `${prefix}:holders`;
  const renewLease = renewCommand(redis);

  const withHolders = async (pairs: string[]): Promise<NodeLease[]> => {
    const names: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      names.push(pairs[i] as string);
      scores.push(Number(pairs[i + 1]));
    }
    if (names.length === 0) return [];
    const who = await redis.hmget(holders, ...names);
    return names.map((nodeName, i) => ({ nodeName, holder: who[i] ?? "", renewTime: new Date(scores[i] as number) }));
  };

  return {
    kind: "redis",
    async renew(nodeName, holder, now) {
      await renewLease(times, holders, nodeName, now.getTime(), holder);
    },
    async get(nodeName) {
      const [score, holder] = await Promise.all([redis.zscore(times, nodeName), redis.hget(holders, nodeName)]);
      if (score === null) return undefined;
      return { nodeName, holder: holder ?? "", renewTime: new Date(Number(score)) };
    },
    async listExpired(olderThan) {
      // "(" makes the bound exclusive: a lease renewed exactly at `olderThan` is not expired.
      return withHolders(await redis.zrangebyscore(times, "-inf", `(${olderThan.getTime()}`, "WITHSCORES"));
    },
    async getAll() {
      return withHolders(await redis.zrange(times, "0", "-1", "WITHSCORES"));
    },
    async delete(nodeName) {
      await redis.multi().zrem(times, nodeName).hdel(holders, nodeName).exec();
    },
    async close() {},
  };
}
