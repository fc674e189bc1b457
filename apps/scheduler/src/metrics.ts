// The scheduler's own series (counted as it works); cluster-wide gauges read on scrape live in
// cluster-metrics.ts.
import { counter, gauge, histogram, LATENCY_BUCKETS } from "@eiaas/telemetry";

/**
 * Workloads the scheduler tried to place, by outcome: `scheduled` (planned and bound),
 * `unschedulable` (no plan, or the bind refused it), `error` (its own planning or bind failed —
 * retried after a backoff — or it was planned in a cycle that then failed — Postgres or Redis
 * away — so it is tried again next cycle).
 */
export const schedulingAttempts = counter<"result">({
  name: "eiaas_scheduling_attempts_total",
  help: "Workload scheduling attempts by result (scheduled, unschedulable, error)",
  labelNames: ["result"],
});

/** One workload's planning (placement search), by kind. */
export const planDuration = histogram<"kind">({
  name: "eiaas_scheduling_plan_duration_seconds",
  help: "Time to plan one workload (filter, score, placement search), by kind",
  labelNames: ["kind"],
  buckets: LATENCY_BUCKETS,
});

/** A whole scheduling cycle as leader: read, plan, bind, dispatch, node lifecycle. */
export const cycleDuration = histogram<"result">({
  name: "eiaas_scheduler_cycle_duration_seconds",
  help: "Duration of a scheduling cycle (read state, plan, bind, dispatch, node lifecycle) by result (ok, error)",
  labelNames: ["result"],
  buckets: LATENCY_BUCKETS,
});

export const boundTasks = counter({
  name: "eiaas_scheduler_bound_tasks_total",
  help: "Tasks bound to nodes (committed with their workload's plan)",
});

export const dispatchedTasks = counter({
  name: "eiaas_scheduler_dispatched_tasks_total",
  help: "Task attempts enqueued on their node's queue and marked Dispatched",
});

export const leader = gauge({
  name: "eiaas_scheduler_leader",
  help: "1 while this scheduler instance holds leadership (acts), 0 on standby",
});

export const garbageCollected = counter({
  name: "eiaas_scheduler_garbage_collected_total",
  help: "Tasks deleted by the garbage collector because none of their owners exists any more",
});
