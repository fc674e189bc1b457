// The scheduler process: `node --import tsx apps/scheduler/src/main.ts`.
import http from "node:http";
import { ObjectStore, createDatabase } from "@eiaas/db";
import { createPostgresLeaseStore, createPostgresQueueBackend, createRedisLeaseStore, createRedisQueueBackend } from "@eiaas/queue";
import { createLogger } from "@eiaas/telemetry";
import { Redis } from "ioredis";
import { loadSchedulerEnv } from "./config.js";
import { Scheduler } from "./scheduler.js";

const env = loadSchedulerEnv();
const logger = createLogger({ name: "scheduler", level: env.EIAAS_LOG_LEVEL });
const db = createDatabase(env.DATABASE_URL, { poolSize: 10 });
const store = new ObjectStore(db.pool);
const redis = env.REDIS_URL ? new Redis(env.REDIS_URL, { maxRetriesPerRequest: null }) : undefined;
const queue = env.REDIS_URL
  ? createRedisQueueBackend({ url: env.REDIS_URL, onError: (err) => logger.warn({ err: err.message }, "queue") })
  : createPostgresQueueBackend({ connectionString: env.DATABASE_URL, onError: (err) => logger.warn({ err: err.message }, "queue") });
const leases = redis ? createRedisLeaseStore(redis) : createPostgresLeaseStore(db.pool);
const scheduler = new Scheduler(
  { databaseUrl: env.DATABASE_URL, pool: db.pool, store, queue, leases, logger },
  { resyncMs: env.EIAAS_RESYNC_SECONDS * 1000, gracePeriodMs: env.EIAAS_NODE_GRACE_SECONDS * 1000, evictionMs: env.EIAAS_NODE_EVICTION_SECONDS * 1000 },
);
scheduler.start();

const health = http.createServer(async (req, res) => {
  if (req.url === "/livez") return void res.end("ok");
  if (req.url === "/readyz") {
    try {
      await db.pool.query("SELECT 1");
      res.end(scheduler.isLeader ? "ok (leader)" : "ok (standby)");
    } catch (err) {
      res.statusCode = 503;
      res.end(`not ready: ${(err as Error).message}`);
    }
    return;
  }
  res.statusCode = 404;
  res.end("not found");
});
health.listen(env.EIAAS_METRICS_PORT);

const stop = async (signal: string) => {
  logger.info({ signal }, "shutting down");
  health.close();
  await scheduler.stop();
  await queue.close();
  await leases.close();
  redis?.disconnect();
  await db.close();
  process.exit(0);
};
process.once("SIGTERM", () => void stop("SIGTERM"));
process.once("SIGINT", () => void stop("SIGINT"));
