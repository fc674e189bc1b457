// The scheduler process: `node --import tsx apps/scheduler/src/main.ts`.
import { ObjectStore, createDatabase } from "@eiaas/db";
import { createPostgresLeaseStore, createPostgresQueueBackend, createRedisLeaseStore, createRedisQueueBackend } from "@eiaas/queue";
import { createLogger, startOpsServer, startTelemetry } from "@eiaas/telemetry";
import { Redis } from "ioredis";
import { loadSchedulerEnv } from "./config.js";
import { Scheduler } from "./scheduler.js";

const env = loadSchedulerEnv();
// Before any work: traces (only with OTEL_EXPORTER_OTLP_ENDPOINT set).
const telemetry = await startTelemetry({ serviceName: "eiaas-scheduler" });
const logger = createLogger({ name: "scheduler", level: env.EIAAS_LOG_LEVEL });
const db = createDatabase(env.DATABASE_URL, { poolSize: 10 });
const store = new ObjectStore(db.pool);
const redis = env.REDIS_URL ? new Redis(env.REDIS_URL, { maxRetriesPerRequest: null }) : undefined;
redis?.on("error", (err) => logger.warn({ err }, "redis"));
const queue = env.REDIS_URL
  ? createRedisQueueBackend({ url: env.REDIS_URL, onError: (err) => logger.warn({ err }, "queue") })
  : createPostgresQueueBackend({ connectionString: env.DATABASE_URL, onError: (err) => logger.warn({ err }, "queue") });
const leases = redis ? createRedisLeaseStore(redis) : createPostgresLeaseStore(db.pool);
const scheduler = new Scheduler(
  { databaseUrl: env.DATABASE_URL, pool: db.pool, store, queue, leases, logger },
  {
    resyncMs: env.EIAAS_RESYNC_SECONDS * 1000,
    minCycleIntervalMs: env.EIAAS_MIN_CYCLE_INTERVAL_MS,
    gracePeriodMs: env.EIAAS_NODE_GRACE_SECONDS * 1000,
    evictionMs: env.EIAAS_NODE_EVICTION_SECONDS * 1000,
    defaultMaxPriority: env.EIAAS_DEFAULT_MAX_PRIORITY,
  },
);
scheduler.start();

const ops = await startOpsServer({
  port: env.EIAAS_METRICS_PORT,
  checks: { postgres: () => db.pool.query("SELECT 1"), ...(redis ? { redis: () => redis.ping() } : {}) },
  readyDetail: () => (scheduler.isLeader ? "leader" : "standby"),
  ...(env.EIAAS_METRICS_TOKEN ? { metricsToken: env.EIAAS_METRICS_TOKEN } : {}),
});
logger.info({ port: ops.port }, "serving /livez, /readyz and /metrics");

/**
 * Graceful stop: report not-ready, start no new cycle, let the running one finish (a plan is bound
 * and its tasks enqueued and marked Dispatched, or not started), release leadership so a standby
 * takes over at once, then close queues and pools. Work interrupted anyway (SIGKILL) is redone from
 * Postgres by the next leader: enqueues are idempotent and binds transactional.
 */
const stop = async (signal: string) => {
  logger.info({ signal }, "shutting down: finishing the running cycle, then releasing leadership");
  ops.drain();
  await scheduler.stop();
  await queue.close();
  await leases.close();
  redis?.disconnect();
  await db.close();
  await ops.close();
  await telemetry.shutdown();
  logger.info("stopped");
  process.exit(0);
};
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    // A second signal while stopping: give up waiting.
    process.once(signal, () => process.exit(1));
    void stop(signal);
  });
}
