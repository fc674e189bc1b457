import type { CachedObject, StoredObject } from "@eiaas/db";
import type { Access } from "./authz.js";

/**
 * What a tenant sees of an EdgeNode: everything but the names of the tasks the agent reported
 * running — those are every tenant's tasks on the node, named after their workloads — which
 * become a count (`status.runningTaskCount`). A tenant finds its own tasks on a node by listing
 * them (`fieldSelector=spec.nodeName=NODE` in its namespace), as `eictl describe node` does.
 */
export function tenantNodeView(node: StoredObject): StoredObject {
  const status = node.status as { runningTasks?: unknown } | undefined;
  if (!status || status.runningTasks === undefined) return node;
  const { runningTasks, ...rest } = status;
  return { ...node, status: { ...rest, runningTaskCount: Array.isArray(runningTasks) ? runningTasks.length : 0 } };
}

/** The object as `access` may see it: the tenant view of EdgeNodes, anything else as it is. */
export function presentTo(access: Access, obj: StoredObject): StoredObject {
  return access.tenantView && obj.kind === "EdgeNode" ? tenantNodeView(obj) : obj;
}

/** The JSON `access` may see of a cached object: the tenant view is serialised once per version, beside the full one. */
export function presentedJson(access: Access, cached: CachedObject): string {
  return access.tenantView && cached.object.kind === "EdgeNode" ? cached.viewJson("tenant", tenantNodeView) : cached.json;
}

/**
 * What an agent sees of a peer task on another node (an aggregator its node's participant sends
 * to): who and where it is, its phase and endpoint — never its env (tokens, key digests) nor its
 * template.
 */
export function peerTaskView(task: StoredObject): StoredObject {
  const m = task.metadata;
  const st = (task.status ?? {}) as { phase?: string; attempt?: number; endpoint?: string };
  return {
    apiVersion: task.apiVersion,
    kind: task.kind,
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion },
    spec: { nodeName: (task.spec as { nodeName?: string }).nodeName, role: (task.spec as { role?: string }).role },
    status: { ...(st.phase ? { phase: st.phase } : {}), ...(st.attempt !== undefined ? { attempt: st.attempt } : {}), ...(st.endpoint ? { endpoint: st.endpoint } : {}) },
  } as StoredObject;
}

/** The peer view's JSON of a cached task, serialised once per version. */
export function peerJson(cached: CachedObject): string {
  return cached.viewJson("peer", peerTaskView);
}
