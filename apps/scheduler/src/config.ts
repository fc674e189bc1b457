import { z } from "zod";
import { priorityValue } from "@eiaas/api";

/** The scheduler's environment, parsed once at start-up. */
export const schedulerEnv = z.object({
  DATABASE_URL: z.string().min(1, "DATABASE_URL is required"),
  REDIS_URL: z.string().min(1).optional(),
  /** /livez, /readyz, /metrics. Default 9090. */
  EIAAS_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9090),
  /**
   * Scrape token: `/metrics` with `Authorization: Bearer <token>` adds the series that name tenants
   * (eiaas_tenant_usage, eiaas_tenant_quota); without it they are never served.
   */
  EIAAS_METRICS_TOKEN: z.string().min(32, "EIAAS_METRICS_TOKEN must be at least 32 characters").optional(),
  /**
   * Longest time between two scheduling cycles, whatever wakes them (each reads the watch log after
   * its cursor; a full re-list only at start and after errors), and the node lifecycle pass's
   * period. Default 2 s.
   */
  EIAAS_RESYNC_SECONDS: z.coerce.number().positive().default(2),
  /** A node whose lease is older than this is NotReady. Default 40 s. */
  EIAAS_NODE_GRACE_SECONDS: z.coerce.number().positive().default(40),
  /** Tasks of a node NotReady this long fail with NodeLost and are rescheduled. Default 60 s. */
  EIAAS_NODE_EVICTION_SECONDS: z.coerce.number().nonnegative().default(60),
  /**
   * Shortest time between the starts of two scheduling cycles, in ms: changes committed closer
   * together are handled by one cycle. Default 25.
   */
  EIAAS_MIN_CYCLE_INTERVAL_MS: z.coerce.number().int().nonnegative().default(25),
  /**
   * Highest priority a workload counts with in a tenant whose spec sets no maxPriority: the same
   * setting as the API server's (which refuses higher ones). Default 0.
   */
  EIAAS_DEFAULT_MAX_PRIORITY: z.coerce.number().pipe(priorityValue).default(0),
  EIAAS_LOG_LEVEL: z.string().default("info"),
});
export type SchedulerEnv = z.infer<typeof schedulerEnv>;

export function loadSchedulerEnv(env: NodeJS.ProcessEnv = process.env): SchedulerEnv {
  const parsed = schedulerEnv.safeParse(env);
  if (!parsed.success) {
    for (const i of parsed.error.issues) console.error(`error: ${i.path.join(".")}: ${i.message}`);
    process.exit(1);
  }
  return parsed.data;
}
