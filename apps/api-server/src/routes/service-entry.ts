import type { ClientPlan } from "@eiaas/api";
import { kindInfo } from "@eiaas/api";
import type { ObjectStore, StoredObject } from "@eiaas/db";

const TASK = kindInfo("Task");
/** The scheduler's labels and annotations on a service's tasks (apps/scheduler/src/task-factory.ts). */
const PLAN_REVISION_LABEL = "eiaas.io/plan-revision";
const CLIENTS_ANNOTATION = "eiaas.io/clients";

/** Where a client sends its requests: the task at the start of its plan, and what it is. */
export interface ServiceEntry {
  node: string;
  role: "serve" | "head";
  /** The task serving it, once the plan's tasks exist. */
  task?: string;
  /** `host:port`, once the task reported its endpoint. */
  address?: string;
  phase?: string;
}

/**
 * The entry of `plan`'s chain: the head on the client's node (or the edge node of an edge-cloud
 * split) when the plan splits, the whole chain's `serve` task on the client (device only) or on
 * its server (j = 0) otherwise. Head tasks are not in the service's `status.endpoints` (those are
 * what a client offloads to), so the task is looked up among the service's tasks on that node:
 * of the plan's revision, owned by the service, serving this client.
 */
export async function serviceEntry(store: ObjectStore, svc: StoredObject, plan: ClientPlan): Promise<ServiceEntry> {
  const node = plan.headNode ?? plan.tailNode;
  const role = plan.split > 0 && plan.tailNode ? "head" : "serve";
  if (!node) return { node: plan.client, role };
  const tasks = await store.list(TASK, { namespace: svc.metadata.namespace!, fields: [{ field: "spec.nodeName", value: node, negate: false }] });
  const revision = svc.status?.planRevision;
  const candidates = tasks.items.filter(
    (t) =>
      t.spec?.role === role &&
      t.metadata.ownerReferences?.some((o) => o.uid === svc.metadata.uid && o.controller) &&
      (revision === undefined || t.metadata.labels?.[PLAN_REVISION_LABEL] === String(revision)) &&
      (t.metadata.annotations?.[CLIENTS_ANNOTATION]?.split(",").includes(plan.client) ?? true) &&
      (t.spec?.env?.EIAAS_VARIANT === undefined || t.spec.env.EIAAS_VARIANT === plan.variant),
  );
  // A task that serves beats one that does not (yet); among equals, the newest.
  const rank = (t: StoredObject) => (t.status?.endpoint ? 2 : 0) + (t.status?.phase === "Running" ? 1 : 0);
  candidates.sort((a, b) => rank(b) - rank(a) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)));
  const t = candidates[0];
  if (!t) return { node, role };
  return { node, role, task: t.metadata.name, ...(t.status?.endpoint ? { address: t.status.endpoint } : {}), ...(t.status?.phase ? { phase: t.status.phase } : {}) };
}
