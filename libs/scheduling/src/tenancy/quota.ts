import type { Snapshot } from "../snapshot/snapshot.js";
import type { ResourceVector } from "../snapshot/types.js";

export type QuotaResource = "cpu" | "memoryMiB" | "gpu" | "tasks";

/**
 * The quota dimensions a tenant would exceed by adding `request` and `tasks` tasks to its current
 * usage (empty when it fits). Quotas are hard; an absent limit, or a tenant the snapshot does not
 * know, is unlimited.
 */
export function quotaExceeded(snapshot: Snapshot, tenant: string | undefined, request: Readonly<ResourceVector>, tasks = 1): QuotaResource[] {
  if (tenant === undefined) return [];
  const t = snapshot.tenant(tenant);
  if (!t) return [];
  const u = snapshot.usageOf(tenant);
  const q = t.quota;
  const out: QuotaResource[] = [];
  if (q.cpu !== undefined && u.cpu + request.cpu > q.cpu + 1e-9) out.push("cpu");
  if (q.memoryMiB !== undefined && u.memoryMiB + request.memoryMiB > q.memoryMiB + 1e-9) out.push("memoryMiB");
  if (q.gpu !== undefined && u.gpu + request.gpu > q.gpu + 1e-9) out.push("gpu");
  if (q.tasks !== undefined && u.tasks + tasks > q.tasks) out.push("tasks");
  return out;
}

/** Whether the tenant already uses more than its quota in some dimension. */
export function isOverQuota(snapshot: Snapshot, tenant: string): boolean {
  return quotaExceeded(snapshot, tenant, { cpu: 0, memoryMiB: 0, gpu: 0 }, 0).length > 0;
}

/** `exceeded quota of tenant "a": cpu (used 1500 + requested 1000 > 2000)` */
export function quotaMessage(snapshot: Snapshot, tenant: string, request: Readonly<ResourceVector>, tasks: number, over: readonly QuotaResource[]): string {
  const t = snapshot.tenant(tenant);
  const u = snapshot.usageOf(tenant);
  const req: Record<QuotaResource, number> = { ...request, tasks };
  const parts = over.map((r) => `${r} (used ${fmt(u[r])} + requested ${fmt(req[r])} > ${fmt(t?.quota[r] ?? Infinity)})`);
  return `exceeded quota of tenant "${tenant}": ${parts.join(", ")}`;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(3).replace(/\.?0+$/, "");
}
