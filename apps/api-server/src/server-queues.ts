// The queue side of the API server: Redis when REDIS_URL is set (queues, node leases, per-agent
// ACL users and the script cache they need), else everything on Postgres.
import type pg from "pg";
import { AgentRedisUserStore } from "@eiaas/db";
import type { Logger } from "@eiaas/telemetry";
import {
  createPostgresLeaseStore,
  createPostgresQueueBackend,
  createRedisLeaseStore,
  createRedisQueueBackend,
  provisionAgentRedisUser,
  QueueScriptKeeper,
  revokeAgentRedisUser,
  type LeaseStore,
  type QueueBackend,
} from "@eiaas/queue";
import { Redis } from "ioredis";
import type { ApiAppDeps } from "./app.js";
import type { ApiServerEnv } from "./config.js";
import { ScheduleHints } from "./schedule-hints.js";

export interface ServerQueues {
  /** The control plane's own Redis client (absent on Postgres). */
  redis?: Redis;
  queue: QueueBackend;
  hints: ScheduleHints;
  leases: LeaseStore;
  /** Keeps BullMQ's scripts cached for the agents' EVALSHA-only users (Redis only). */
  scripts?: QueueScriptKeeper;
  /** Hands an agent its own Redis user (Redis only). */
  queueCredentials?: ApiAppDeps["queueCredentials"];
}

/** Opens the queue side; `databaseUrl` and `pool` serve it when there is no Redis. */
export function openServerQueues(env: ApiServerEnv, databaseUrl: string, pool: pg.Pool, logger: Logger): ServerQueues {
  const redis = env.REDIS_URL ? new Redis(env.REDIS_URL, { maxRetriesPerRequest: null }) : undefined;
  redis?.on("error", (err) => logger.warn({ err }, "redis"));
  const queue: QueueBackend = env.REDIS_URL
    ? createRedisQueueBackend({ url: env.REDIS_URL, onError: (err) => logger.debug({ err }, "queue") })
    : createPostgresQueueBackend({ connectionString: databaseUrl, onError: (err) => logger.debug({ err }, "queue") });
  const hints = new ScheduleHints(queue, logger);
  const leases: LeaseStore = redis ? createRedisLeaseStore(redis) : createPostgresLeaseStore(pool);
  if (!redis || !env.REDIS_URL) return { queue, hints, leases };
  // The agents' Redis users, by password hash, to give them back to a Redis that restarted empty.
  const agentUsers = new AgentRedisUserStore(pool);
  // Agents' Redis users run BullMQ's scripts by SHA-1 only: keep them cached across Redis
  // restarts and flushes (provisioning loads them too, before handing out credentials), and the
  // users themselves across restarts.
  const scripts = new QueueScriptKeeper(redis, {
    onError: (err) => logger.warn({ err }, "queue scripts"),
    onLoaded: (count) => logger.info({ count }, "loaded BullMQ scripts into the Redis script cache"),
    agentUsers: () => agentUsers.list(),
    onUsersRestored: (users) => logger.info({ count: users.length }, "restored the agents' Redis users Redis had lost"),
  });
  scripts.start();
  const redisUrl = new URL(env.REDIS_URL);
  const queueCredentials = async (nodeName: string) => {
    const c = await provisionAgentRedisUser(redis, nodeName);
    await agentUsers.save({ nodeName, username: c.username, passwordSha256: c.passwordSha256 });
    return { url: `${redisUrl.protocol}//${redisUrl.host}${redisUrl.pathname}`, username: c.username, password: c.password };
  };
  return { redis, queue, hints, leases, scripts, queueCredentials };
}

/** What a write means for the queue side: a scheduling hint, or a deleted node's Redis user revoked. */
export function queueSideOfWrite(queues: ServerQueues, logger: Logger): NonNullable<ApiAppDeps["onWrite"]> {
  const { redis, hints } = queues;
  return (kind, obj, type) => {
    if (kind.kind === "EdgeNode" && type === "delete" && redis) {
      // Its agent's queue access goes with the node (the kept hash goes with its row).
      void revokeAgentRedisUser(redis, obj.metadata.name).catch((err) => logger.warn({ err, node: obj.metadata.name }, "could not revoke a deleted node's Redis user"));
    }
    if (kind.kind === "InferenceService" || kind.kind === "TrainingJob") {
      // A hint for the scheduler; its LISTEN and its periodic cycle cover a lost one.
      hints.add({ kind: kind.kind, namespace: obj.metadata.namespace!, name: obj.metadata.name, uid: obj.metadata.uid, reason: type });
    }
  };
}
