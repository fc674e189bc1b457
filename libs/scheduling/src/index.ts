/**
 * @eiaas/scheduling — pure placement (design.md §5): a Snapshot of the fleet, kube-scheduler-style
 * Filter plugins, the inference and training planners (which rank what passes the filters by
 * their cost models), multi-tenant fairness and preemption. No I/O, no clock, no randomness: the
 * same input always gives the same plan.
 */
export { SchedulingError } from "./errors.js";

export type { ResourceVector, SnapshotNode, SnapshotTask, SnapshotTenant, TenantQuotaLimits } from "./snapshot/types.js";
export { Snapshot, type NodeInit, type SnapshotInit, type TaskInit, type TenantInit } from "./snapshot/snapshot.js";
export { buildSnapshot, taskDemand, taskInit, type BuildSnapshotInput, type EdgeNodeLike, type TaskLike, type TenantLike } from "./snapshot/build.js";
export {
  amount,
  CAPACITY_SLACK,
  capacityShortfall,
  fitsSlots,
  fitsWithin,
  isReady,
  loadCapacityOf,
  nodeCapacity,
  taskSlotsOf,
  unschedulableReason,
  type CapacityShortfall,
  type NodeCapacity,
  type NodeDemand,
} from "./snapshot/capacity.js";
export { networkPath, serializationMs, transferMs, type NetworkPath } from "./snapshot/network.js";

export type { FilterPlugin, PreparedFilter, ReasonCount, SchedulingProfile, TaskRequest } from "./framework/types.js";
export { feasibleNodes, filterNode, passingNodes, reserveTask, unschedulableMessage, type FilterOptions } from "./framework/filter.js";
export { unschedulableCode, type UnschedulableCode } from "./framework/status.js";
export * from "./plugins/index.js";

export { compileModel, computeMs, type Chain, type ChainTiming, type CompiledModel } from "./cost/chains.js";
export { applySegments, indexMeasurements, type IndexMeasurementsOptions, type ModelMeasurements, type ModelProfileLike, type NodeMeasurements, type SegmentFigure } from "./cost/measurements.js";
export { planInference, type PlanInferenceOptions } from "./inference/planner.js";
export type { InferenceFailure, InferencePlan, InferenceReason, InferenceServiceInput, PlannedTask } from "./inference/types.js";

export { planTraining, type PlanTrainingOptions, type TrainingJobInput, type TrainingPlanResult, type TrainingReason } from "./training/planner.js";
export { convergenceBound, divergenceBound, optimalLocalSteps, roundsWithin, type LocalStepsParams, type LocalStepsResult } from "./training/local-steps.js";
export { gossipPeers } from "./training/gossip.js";

export { isOverQuota, quotaExceeded, quotaMessage, type QuotaResource } from "./tenancy/quota.js";
export { dominantShare, effectivePriority, orderQueue, weightedDominantShare, type QueueItem } from "./tenancy/fair-share.js";
export { selectPreemptionVictims, type PreemptionOptions, type PreemptionResult } from "./tenancy/preemption.js";

export { inferenceServiceStatus, scheduledCondition, trainingJobStatus, type StatusOptions } from "./status/workload-status.js";

export { planWorkloads, type ModelLike, type PlanWorkloadsInput, type Workload, type WorkloadResult } from "./cycle.js";
export { plannedTaskSpec } from "./status/task-spec.js";
export { predictClientLatency } from "./inference/predict.js";
