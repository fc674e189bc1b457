import { kindInfo } from "@eiaas/api";
import { bulkUpdateStatus, type ClusterCache, type StoredObject } from "@eiaas/db";
import { dominantShare, type Snapshot } from "@eiaas/scheduling";
import type pg from "pg";
import { sameJson } from "./workload-status.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Publishes what the task rows add up to: `EdgeNode.status.allocated` (cpu, memory, gpu, load) and
 * `Tenant.status.usage` / `dominantShare`, for `kubectl get`, `eictl top` and operators. Read off
 * the scheduler's snapshot (summed from the unfinished tasks, the source of truth), never read back
 * by the scheduler; only changed rows are written, in one statement per kind.
 */
export async function publishUsage(pool: pg.Pool, cache: ClusterCache, snapshot: Snapshot): Promise<number> {
  const nodeUpdates: Array<{ object: StoredObject; status: Record<string, unknown> }> = [];
  for (const n of cache.nodes.values()) {
    const i = snapshot.nodeIndex(n.metadata.name);
    const a = i >= 0 ? snapshot.allocationOf(i) : { cpu: 0, memoryMiB: 0, gpu: 0, load: 0 };
    const allocated = { cpu: round(a.cpu), memoryMiB: round(a.memoryMiB), gpu: round(a.gpu), load: round(a.load) };
    if (!sameJson(allocated, n.status?.allocated ?? { cpu: 0, memoryMiB: 0, gpu: 0, load: 0 })) nodeUpdates.push({ object: n, status: { ...n.status, allocated } });
  }
  const tenantUpdates: Array<{ object: StoredObject; status: Record<string, unknown> }> = [];
  for (const t of cache.tenants.values()) {
    const u = snapshot.usageOf(t.metadata.name);
    const usage = { cpu: round(u.cpu), memoryMiB: round(u.memoryMiB), gpu: round(u.gpu), tasks: u.tasks };
    const share = round(dominantShare(snapshot, t.metadata.name));
    const status = { ...t.status, phase: t.metadata.deletionTimestamp ? "Terminating" : "Active", usage, dominantShare: share };
    if (!sameJson(status, t.status ?? {})) tenantUpdates.push({ object: t, status });
  }
  // Conditional on the versions read: a row that changed meanwhile is simply written next pass.
  const written = (await bulkUpdateStatus(pool, NODE, nodeUpdates)).length + (await bulkUpdateStatus(pool, TENANT, tenantUpdates)).length;
  return written;
}
