import type { StoredObject } from "@eiaas/db";
import { contextFromAnnotations, secondsSince, withSpanSync } from "@eiaas/telemetry";
import { planDuration } from "./metrics.js";

/** Plans started per workload controller in its current cycle (what a failed cycle leaves unscheduled). */
const plansInCycle = new WeakMap<object, number>();

/** Starts counting a controller's plans for a new cycle. */
export function beginCycle(controller: object): void {
  plansInCycle.set(controller, 0);
}

/** How many workloads the controller planned in its current cycle. */
export function plannedInCycle(controller: object): number {
  return plansInCycle.get(controller) ?? 0;
}

/**
 * Runs one workload's planning as a span in the trace of the request that created it (its
 * `eiaas.io/traceparent` annotation), so the scheduler's work joins that trace although it happens
 * cycles later; Tasks made inside `plan` copy the plan span's context (task-factory), and their
 * dispatch and run continue the same trace. Also times the plan for
 * `eiaas_scheduling_plan_duration_seconds`.
 */
export function tracePlan<T extends { failure?: { reason: string; message: string } }>(controller: object, workload: StoredObject, plan: () => T): T {
  plansInCycle.set(controller, plannedInCycle(controller) + 1);
  const start = process.hrtime.bigint();
  const kind = workload.kind;
  try {
    return withSpanSync(
      `schedule ${kind}`,
      {
        parent: contextFromAnnotations(workload.metadata.annotations),
        attributes: { "eiaas.workload.kind": kind, "eiaas.workload.namespace": workload.metadata.namespace ?? "", "eiaas.workload.name": workload.metadata.name },
      },
      (span) => {
        const decision = plan();
        span?.setAttribute("eiaas.schedule.result", decision.failure ? decision.failure.reason : "planned");
        if (decision.failure) span?.setAttribute("eiaas.schedule.message", decision.failure.message);
        return decision;
      },
    );
  } finally {
    planDuration.observe({ kind }, secondsSince(start));
  }
}
