import { createHash } from "node:crypto";
import { API_VERSION, kindInfo, servingReuseEnv } from "@eiaas/api";
import type { ObjectStore, StoredObject } from "@eiaas/db";
import type { PlannedTask } from "@eiaas/scheduling";
import { traceAnnotation } from "@eiaas/telemetry";

export const PLAN_REVISION_LABEL = "eiaas.io/plan-revision";
export const WORKLOAD_LABEL = "eiaas.io/workload";
/** How many tasks the task's plan revision has: a revision missing some (deleted, evicted) re-plans. */
export const PLAN_SIZE_LABEL = "eiaas.io/plan-size";
export const TASK_KEY_ANNOTATION = "eiaas.io/task-key";
export const CLIENTS_ANNOTATION = "eiaas.io/clients";

/**
 * The name of a workload's task: the workload's name (its first 200 characters), the plan
 * revision, the role, and a digest of the workload's uid and the task's key — DNS-valid, stable
 * for a plan, and unique to this workload: not to its name, which two workloads share when they
 * differ only past 200 characters, nor to an earlier workload of that name whose tasks are still
 * being removed (a namespace's cleanup deletes workloads before their tasks; the garbage
 * collector removes leftovers in the background). Either made the binds of every workload fail on
 * `tasks_namespace_name_key` until the clashing task was gone.
 */
export function taskName(owner: StoredObject, revision: number, role: string, key: string): string {
  const digest = createHash("sha256").update(`${owner.metadata.uid}/${key}`).digest("hex").slice(0, 8);
  return `${owner.metadata.name.slice(0, 200)}-r${revision}-${role}-${digest}`;
}

/**
 * Turns a planned task into a Task object owned by its workload: named by {@link taskName},
 * labelled so the revision's tasks can be found, bound to its node with the load and priority the
 * next snapshot counts it with, phase Dispatched (the bind commits it; its job is enqueued right
 * after, and the repair pass re-enqueues it if that enqueue never happened), attempt 1.
 * `extra.expectedRunMs`: how long the simulated runtime runs it (training tasks; servers run until
 * stopped).
 */
export function taskFromPlan(
  store: ObjectStore,
  owner: StoredObject,
  planned: PlannedTask,
  revision: number,
  extra: { template?: unknown; expectedRunMs?: number; planSize?: number; env?: Record<string, string> } = {},
): StoredObject {
  const name = taskName(owner, revision, planned.role, planned.key);
  return store.prepareCreate(kindInfo("Task"), {
    apiVersion: API_VERSION,
    metadata: {
      name,
      namespace: owner.metadata.namespace!,
      labels: {
        [WORKLOAD_LABEL]: workloadLabelValue(owner.metadata.name),
        [PLAN_REVISION_LABEL]: String(revision),
        "eiaas.io/role": planned.role,
        ...(extra.planSize !== undefined ? { [PLAN_SIZE_LABEL]: String(extra.planSize) } : {}),
      },
      annotations: {
        [TASK_KEY_ANNOTATION]: planned.key,
        ...(planned.clients.length ? { [CLIENTS_ANNOTATION]: planned.clients.join(",") } : {}),
        // The plan span's context (tracePlan): the dispatch and the agent's run continue its trace.
        ...traceAnnotation(),
      },
      ownerReferences: [{ apiVersion: API_VERSION, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      nodeName: planned.node,
      role: planned.role,
      ...(planned.layers ? { layers: planned.layers } : {}),
      template: extra.template ?? {},
      env: {
        EIAAS_WORKLOAD: `${owner.kind}/${owner.metadata.name}`,
        // The Model whose artifact (ONNX file) the agent fetches and cuts to the task's layers.
        ...(typeof owner.spec?.model === "string" ? { EIAAS_MODEL: owner.spec.model } : {}),
        ...(planned.variant !== undefined ? { EIAAS_VARIANT: planned.variant } : {}),
        ...(planned.exitAfterLayer !== undefined ? { EIAAS_EXIT_AFTER_LAYER: String(planned.exitAfterLayer) } : {}),
        // Caching and the input filter act at a client's entry (serve, head); a tail sees cut tensors.
        ...(owner.kind === "InferenceService" && planned.role !== "tail" ? servingReuseEnv(owner.spec) : {}),
        ...extra.env,
      },
      resources: planned.resources,
      load: planned.load,
      priority: planned.priority,
      ...(extra.expectedRunMs !== undefined ? { expectedRunMs: wholeMs(extra.expectedRunMs) } : {}),
    },
    status: { phase: "Dispatched", attempt: 1 },
  });
}

/**
 * A run time `spec.expectedRunMs` holds: whole, non-negative and exact in a double. The prediction
 * comes from the workload's estimates, a tenant's numbers: a negative or overflowing one made a
 * job the queue refuses, and with it the dispatch of every task enqueued alongside.
 */
function wholeMs(ms: number): number {
  return Number.isNaN(ms) ? 0 : Math.min(Math.max(0, Math.round(ms)), Number.MAX_SAFE_INTEGER);
}

/** Longest label value the API accepts (Kubernetes' limit): the controller's labels keep to it too. */
const MAX_LABEL_VALUE = 63;

/**
 * The workload label's value: the workload's name when it fits a label value, else its first
 * characters and a digest of the whole name (names run to 253 characters). Select a workload's
 * tasks by this value, or by owner.
 */
export function workloadLabelValue(name: string): string {
  if (name.length <= MAX_LABEL_VALUE) return name;
  const digest = createHash("sha256").update(name).digest("hex").slice(0, 10);
  // A label value ends in an alphanumeric; a name cut at a '.' or '-' would not.
  return `${name.slice(0, MAX_LABEL_VALUE - digest.length - 1).replace(/[^a-z0-9]+$/, "")}-${digest}`;
}

export function revisionOf(task: StoredObject): number {
  return Number(task.metadata.labels?.[PLAN_REVISION_LABEL] ?? 0);
}
