import type { Condition, InferenceServiceStatus, TrainingJobStatus } from "@eiaas/api";
import type { InferencePlan } from "../inference/types.js";
import type { TrainingPlanResult } from "../training/planner.js";

export interface StatusOptions {
  /** RFC 3339 time for `lastTransitionTime` (passed in: the library reads no clock). Omitted when absent. */
  now?: string;
  /** The workload's `metadata.generation`, copied to `observedGeneration`. */
  observedGeneration?: number;
}

/**
 * The status a planned workload gets (design.md §4/§5): placed → phase Scheduled, condition
 * Scheduled=True; infeasible → phase Pending, condition Scheduled=False with reason Unschedulable
 * and the planner's message naming each failed client or constraint.
 */
export function scheduledCondition(scheduled: boolean, message: string, options: StatusOptions = {}): Condition {
  return {
    type: "Scheduled",
    status: scheduled ? "True" : "False",
    reason: scheduled ? "Scheduled" : "Unschedulable",
    message,
    ...(options.now !== undefined ? { lastTransitionTime: options.now } : {}),
    ...(options.observedGeneration !== undefined ? { observedGeneration: options.observedGeneration } : {}),
  };
}

export function inferenceServiceStatus(plan: InferencePlan, options: StatusOptions = {}): InferenceServiceStatus {
  const scheduled = plan.status === "Scheduled";
  return {
    phase: scheduled ? "Scheduled" : "Pending",
    conditions: [scheduledCondition(scheduled, plan.message, options)],
    ...(scheduled ? { plan: { clients: plan.clients } } : {}),
    ...(options.observedGeneration !== undefined ? { observedGeneration: options.observedGeneration } : {}),
  };
}

export function trainingJobStatus(result: TrainingPlanResult, options: StatusOptions = {}): TrainingJobStatus {
  const scheduled = result.status === "Scheduled";
  return {
    phase: scheduled ? "Scheduled" : "Pending",
    conditions: [scheduledCondition(scheduled, result.message, options)],
    ...(scheduled ? { plan: result.plan } : {}),
    ...(options.observedGeneration !== undefined ? { observedGeneration: options.observedGeneration } : {}),
  };
}
