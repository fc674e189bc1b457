import type { InferenceServiceSpec, InferenceServiceStatus, ModelSpec, TrainingJobSpec, TrainingJobStatus } from "@eiaas/api";
import type { SchedulingProfile } from "./framework/types.js";
import { planInference } from "./inference/planner.js";
import type { InferencePlan } from "./inference/types.js";
import type { Snapshot } from "./snapshot/snapshot.js";
import { inferenceServiceStatus, trainingJobStatus } from "./status/workload-status.js";
import { orderQueue } from "./tenancy/fair-share.js";
import { planTraining, type TrainingPlanResult } from "./training/planner.js";

interface WorkloadMeta {
  name: string;
  namespace?: string;
  creationTimestamp?: string | null;
  generation?: number;
}

export interface ModelLike {
  metadata: { name: string; namespace?: string };
  spec: ModelSpec;
}

export type Workload = { kind: "InferenceService"; metadata: WorkloadMeta; spec: InferenceServiceSpec } | { kind: "TrainingJob"; metadata: WorkloadMeta; spec: TrainingJobSpec };

export type WorkloadResult =
  | { kind: "InferenceService"; workload: Workload; result: InferencePlan; status: InferenceServiceStatus }
  | { kind: "TrainingJob"; workload: Workload; result: TrainingPlanResult; status: TrainingJobStatus };

export interface PlanWorkloadsInput {
  models: readonly ModelLike[];
  workloads: readonly Workload[];
  /** `lastTransitionTime` of the conditions (the library reads no clock). */
  now?: string;
  profile?: SchedulingProfile;
  /** Keep every placed workload's reservations (default true), so later ones see them. */
  reserve?: boolean;
}

/**
 * One scheduling cycle over many workloads: they are planned in queue order (priority, weighted
 * dominant share of their tenant, age, name), each placed workload reserving its tasks before the
 * next is planned, and the results come back in input order with their status filled. A workload's
 * model is looked up by name in the workload's namespace (default "default").
 */
export function planWorkloads(snapshot: Snapshot, input: PlanWorkloadsInput): WorkloadResult[] {
  const models = new Map<string, ModelSpec>();
  for (const m of input.models) models.set(`${m.metadata.namespace ?? "default"}/${m.metadata.name}`, m.spec);
  const queue = orderQueue(
    snapshot,
    input.workloads.map((w, index) => ({
      index,
      kind: w.kind,
      namespace: w.metadata.namespace ?? "default",
      name: w.metadata.name,
      priority: w.spec.priority,
      createdAt: w.metadata.creationTimestamp ?? undefined,
    })),
  );
  const results: WorkloadResult[] = new Array(input.workloads.length);
  const options = { profile: input.profile, reserve: input.reserve };
  for (const item of queue) {
    const w = input.workloads[item.index]!;
    const model = models.get(`${item.namespace}/${w.spec.model}`);
    const meta = { ...w.metadata, namespace: item.namespace };
    const statusOptions = { now: input.now, observedGeneration: w.metadata.generation };
    if (w.kind === "InferenceService") {
      const result = planInference(snapshot, { metadata: meta, spec: w.spec }, model, options);
      results[item.index] = { kind: w.kind, workload: w, result, status: inferenceServiceStatus(result, statusOptions) };
    } else {
      const result = planTraining(snapshot, { metadata: meta, spec: w.spec }, model, options);
      results[item.index] = { kind: w.kind, workload: w, result, status: trainingJobStatus(result, statusOptions) };
    }
  }
  return results;
}
