import type { KindInfo } from "@eiaas/api";
import type { BindGroup, ObjectStore, StoredObject } from "@eiaas/db";
import { planInference, planTraining, type PlannedTask, type Snapshot, type UnschedulableCode } from "@eiaas/scheduling";
import { foldStatus } from "./fold-status.js";
import { tracePlan } from "./plan-telemetry.js";
import { taskFromPlan, taskName } from "./task-factory.js";
import { inferenceEnv } from "./inference-env.js";
import { trainingEnv } from "./training-env.js";
import { setCondition } from "./workload-status.js";
import { DEFAULT_MEASUREMENT_MAX_AGE_MS, recentClientLatency } from "./measured.js";

export interface Workload {
  kind: KindInfo;
  obj: StoredObject;
  tasks: StoredObject[];
}

/**
 * Why a workload was not placed: Unschedulable / ParticipantsLost (no room: a TrainingJob that ran
 * and now has fewer than participants.min placeable data nodes), PlanFailed / BindFailed (an error).
 */
export interface Failure {
  reason: string;
  message: string;
  /**
   * The planner's code for a lack of room: `Unschedulable` when only room was missing (preemption
   * may help), `UnschedulableAndUnresolvable` when eviction cannot change the outcome. Absent for
   * errors and for a bind that found the plan no longer fits (the next plan's code decides).
   */
  code?: UnschedulableCode;
  /** The exception a PlanFailed came from, for the scheduler's log (with its stack); never in an API object. */
  cause?: unknown;
}

/** Failure reasons that are errors of this workload (retried with backoff), not a lack of room. */
export const ERROR_REASONS: ReadonlySet<string> = new Set(["PlanFailed", "BindFailed"]);

/** What one cycle decided for a workload that needed a plan. */
export interface Decision {
  w: Workload;
  group?: BindGroup;
  failure?: Failure;
}

/**
 * Plans one workload on `snapshot` (reserving its tasks there), traced. An exception thrown while
 * planning it — a planner bug, a stored spec it cannot read — is this workload's failure alone
 * (PlanFailed): whatever it reserved before throwing is rolled back and the cycle goes on.
 */
export function planWorkload(
  controller: object,
  w: Workload,
  snapshot: Snapshot,
  model: StoredObject | undefined,
  now: Date,
  store: ObjectStore,
  /** How long clients' measured latencies count (see measured.ts). */
  measurementMaxAgeMs = DEFAULT_MEASUREMENT_MAX_AGE_MS,
): Decision {
  const mark = snapshot.mark();
  try {
    return tracePlan(controller, w.obj, () => plan(w, snapshot, model, now, store, measurementMaxAgeMs));
  } catch (err) {
    snapshot.rollback(mark);
    return { w, failure: { reason: "PlanFailed", message: `planning failed: ${(err as Error)?.message ?? String(err)}`.slice(0, 1_000), cause: err } };
  }
}

function plan(w: Workload, snapshot: Snapshot, model: StoredObject | undefined, now: Date, store: ObjectStore, measurementMaxAgeMs: number): Decision {
  const ts = now.toISOString();
  const rev = Math.max(Number(w.obj.status?.planRevision ?? 0), ...w.tasks.map((t) => Number(t.metadata.labels?.["eiaas.io/plan-revision"] ?? 0))) + 1;
  let tasks: PlannedTask[];
  let statusPlan: Record<string, unknown>;
  let message: string;
  let expectedRunMs: number | undefined;
  let envOf: Map<string, Record<string, string>> | undefined;
  if (w.kind.kind === "InferenceService") {
    const measuredLatency = recentClientLatency(w.obj, now.getTime(), measurementMaxAgeMs);
    const r = planInference(
      snapshot,
      { metadata: { name: w.obj.metadata.name, namespace: w.obj.metadata.namespace! }, spec: w.obj.spec },
      model?.spec,
      measuredLatency.length ? { measuredLatency } : {},
    );
    if (r.status === "Unschedulable") return { w, failure: { reason: "Unschedulable", message: r.message, code: r.code } };
    tasks = r.tasks;
    statusPlan = { plan: { clients: r.clients } };
    message = r.message;
    const spec = model?.spec;
    envOf = inferenceEnv(tasks, r.clients, (p) => taskName(w.obj, rev, p.role, p.key), {
      layerCount: (v) => (v === "base" ? spec?.layers?.length : spec?.variants?.find((x: { name: string }) => x.name === v)?.layers?.length),
      templateEnv: w.obj.spec.template?.env,
    });
  } else {
    const r = planTraining(snapshot, { metadata: { name: w.obj.metadata.name, namespace: w.obj.metadata.namespace! }, spec: w.obj.spec }, model?.spec);
    if (r.status === "Unschedulable") {
      const lost = (w.obj.status?.planRevision ?? 0) > 0 && r.reasons.includes("participants");
      return { w, failure: { reason: lost ? "ParticipantsLost" : "Unschedulable", message: r.message, code: r.code } };
    }
    tasks = r.tasks;
    // A re-plan (participants lost, returned) keeps the rounds the job has completed.
    statusPlan = { plan: r.plan, round: w.obj.status?.round ?? 0 };
    message = r.message;
    expectedRunMs = trainingRunMs(w.obj.spec, r.plan.localSteps ?? 1);
    envOf = trainingEnv(w.obj.metadata.uid, w.obj.spec, r.plan, tasks, (t) => taskName(w.obj, rev, t.role, t.key));
  }
  const status = {
    ...(w.obj.status ?? {}),
    ...statusPlan,
    // A running service keeps serving from its previous tasks while the new ones start.
    phase: w.obj.status?.phase === "Running" ? "Running" : "Scheduled",
    planRevision: rev,
    observedGeneration: w.obj.metadata.generation,
    conditions: setCondition(w.obj.status?.conditions, { type: "Scheduled", status: "True", reason: "Scheduled", message }, ts),
  };
  const created = tasks.map((p) =>
    taskFromPlan(store, w.obj, p, rev, {
      template: w.obj.spec.template,
      planSize: tasks.length,
      ...(expectedRunMs !== undefined ? { expectedRunMs } : {}),
      ...(envOf?.has(p.key) ? { env: envOf.get(p.key)! } : {}),
    }),
  );
  // The status the bind writes already has its new tasks folded in (Ready False, 0/N running), so
  // the next cycle's fold of the same tasks finds nothing to write.
  const folded = foldStatus(w.kind.kind as "InferenceService" | "TrainingJob", { ...w.obj, status }, [...w.tasks, ...created], ts).status;
  return {
    w,
    group: {
      id: `${w.kind.kind}/${w.obj.metadata.namespace}/${w.obj.metadata.name}`,
      namespace: w.obj.metadata.namespace!,
      tasks: created,
      owner: { kind: w.kind, object: { ...w.obj, status: folded } },
    },
  };
}

/**
 * How long the simulated runtime runs a training task: `rounds` rounds of τ local steps and one
 * aggregation each (defaults 0.1 s per step and 0.2 s per aggregation), cut at the time budget.
 */
export function trainingRunMs(spec: any, localSteps: number): number {
  const c = spec.aggregation?.estimates?.localStepSeconds ?? 0.1;
  const b = spec.aggregation?.estimates?.aggregationSeconds ?? 0.2;
  const total = (spec.rounds ?? 1) * (localSteps * c + b);
  const budget = spec.aggregation?.budget?.seconds;
  return Math.round(1000 * (budget !== undefined ? Math.min(budget, total) : total));
}
