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
