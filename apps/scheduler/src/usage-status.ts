import { kindInfo } from "@eiaas/api";
import { bulkUpdateStatus, TASK_LOAD_ANNOTATION, type ClusterState, type StoredObject } from "@eiaas/db";
import { buildSnapshot, dominantShare, type EdgeNodeLike, type TaskLike, type TenantLike } from "@eiaas/scheduling";
import type pg from "pg";
import { isTerminal, sameJson } from "./workload-status.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Publishes what the task rows add up to: `EdgeNode.status.allocated` (cpu, memory, gpu, load) and
 * `Tenant.status.usage` / `dominantShare`, for `kubectl get`, `eictl top` and operators. Derived,
 * never read back by the scheduler (it plans from the task rows themselves); only changed rows are
 * written, in one statement per kind.
 */
export async function publishUsage(pool: pg.Pool, state: ClusterState): Promise<number> {
  const active = state.tasks.filter((t) => !isTerminal(t));
  const perNode = new Map<string, { cpu: number; memoryMiB: number; gpu: number; load: number }>();
  const perTenant = new Map<string, { cpu: number; memoryMiB: number; gpu: number; tasks: number }>();
  for (const t of active) {
    const r = t.spec.resources ?? {};
    if (t.spec.nodeName) {
      const a = perNode.get(t.spec.nodeName) ?? { cpu: 0, memoryMiB: 0, gpu: 0, load: 0 };
      a.cpu += r.cpu ?? 0;
      a.memoryMiB += r.memoryMiB ?? 0;
      a.gpu += r.gpu ?? 0;
      a.load += Number(t.metadata.annotations[TASK_LOAD_ANNOTATION] ?? 0);
      perNode.set(t.spec.nodeName, a);
    }
    const ns = t.metadata.namespace!;
    const u = perTenant.get(ns) ?? { cpu: 0, memoryMiB: 0, gpu: 0, tasks: 0 };
    u.cpu += r.cpu ?? 0;
    u.memoryMiB += r.memoryMiB ?? 0;
    u.gpu += r.gpu ?? 0;
    u.tasks += 1;
    perTenant.set(ns, u);
  }
  const nodeUpdates: Array<{ object: StoredObject; status: Record<string, unknown> }> = [];
  for (const n of state.nodes) {
    const a = perNode.get(n.metadata.name) ?? { cpu: 0, memoryMiB: 0, gpu: 0, load: 0 };
    const allocated = { cpu: round(a.cpu), memoryMiB: round(a.memoryMiB), gpu: round(a.gpu), load: round(a.load) };
    if (!sameJson(allocated, n.status?.allocated ?? { cpu: 0, memoryMiB: 0, gpu: 0, load: 0 })) nodeUpdates.push({ object: n, status: { ...n.status, allocated } });
  }
  const snapshot = buildSnapshot({ nodes: state.nodes as unknown as EdgeNodeLike[], tenants: state.tenants as unknown as TenantLike[], tasks: active as unknown as TaskLike[] });
  const tenantUpdates: Array<{ object: StoredObject; status: Record<string, unknown> }> = [];
  for (const t of state.tenants) {
    const u = perTenant.get(t.metadata.name) ?? { cpu: 0, memoryMiB: 0, gpu: 0, tasks: 0 };
    const usage = { cpu: round(u.cpu), memoryMiB: round(u.memoryMiB), gpu: round(u.gpu), tasks: u.tasks };
    const share = round(dominantShare(snapshot, t.metadata.name));
    const status = { ...t.status, phase: t.metadata.deletionTimestamp ? "Terminating" : "Active", usage, dominantShare: share };
    if (!sameJson(status, t.status ?? {})) tenantUpdates.push({ object: t, status });
  }
  // Conditional on the versions read: a row that changed meanwhile is simply written next pass.
  const written = (await bulkUpdateStatus(pool, NODE, nodeUpdates)).length + (await bulkUpdateStatus(pool, TENANT, tenantUpdates)).length;
  return written;
}
