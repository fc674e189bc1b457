import { kindInfo } from "@eiaas/api";
import { bulkUpdateStatus, type ClusterCache, type StoredObject } from "@eiaas/db";
import { dominantShare, type Snapshot } from "@eiaas/scheduling";
import type pg from "pg";
import { sameJson } from "./workload-status.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Rows per status statement: each holds the counter row (every writer's lock) while it runs. */
const CHUNK = 250;

/** The status writes a publish pass makes: computed at once from the snapshot, written later. */
export interface UsageUpdates {
  nodes: Array<{ object: StoredObject; status: Record<string, unknown> }>;
  tenants: Array<{ object: StoredObject; status: Record<string, unknown> }>;
}

/**
 * What the task rows add up to, for `EdgeNode.status.allocated` (cpu, memory, gpu, load) and
 * `Tenant.status.usage` / `dominantShare` (`kubectl get`, `eictl top`, operators): read off the
 * scheduler's snapshot (summed from the unfinished tasks, the source of truth), never read back by
 * the scheduler; only the rows whose figures changed. Synchronous, so the cycle's tentative
 * reservations (rolled back after it) are not in it as long as it runs outside planning.
 */
export function usageUpdates(cache: ClusterCache, snapshot: Snapshot): UsageUpdates {
  const nodes: UsageUpdates["nodes"] = [];
  for (const n of cache.nodes.values()) {
    const i = snapshot.nodeIndex(n.metadata.name);
    const a = i >= 0 ? snapshot.allocationOf(i) : { cpu: 0, memoryMiB: 0, gpu: 0, load: 0 };
    const allocated = { cpu: round(a.cpu), memoryMiB: round(a.memoryMiB), gpu: round(a.gpu), load: round(a.load) };
    if (!sameJson(allocated, n.status?.allocated ?? { cpu: 0, memoryMiB: 0, gpu: 0, load: 0 })) nodes.push({ object: n, status: { ...n.status, allocated } });
  }
  const tenants: UsageUpdates["tenants"] = [];
  for (const t of cache.tenants.values()) {
    const u = snapshot.usageOf(t.metadata.name);
    const usage = { cpu: round(u.cpu), memoryMiB: round(u.memoryMiB), gpu: round(u.gpu), tasks: u.tasks };
    const share = round(dominantShare(snapshot, t.metadata.name));
    const status = { ...t.status, phase: t.metadata.deletionTimestamp ? "Terminating" : "Active", usage, dominantShare: share };
    if (!sameJson(status, t.status ?? {})) tenants.push({ object: t, status });
  }
  return { nodes, tenants };
}

/**
 * Writes a pass's updates, {@link CHUNK} rows per statement: one statement for 5,000 nodes held
 * every writer (the API's task reports included) behind the counter row for its whole run — a
 * latency spike every pass at 5,000 nodes. Conditional on the versions read: a row that changed
 * meanwhile is simply written next pass. Returns the rows written.
 */
export async function writeUsage(pool: pg.Pool, updates: UsageUpdates): Promise<number> {
  let written = 0;
  for (const [kind, rows] of [[NODE, updates.nodes], [TENANT, updates.tenants]] as const) {
    for (let i = 0; i < rows.length; i += CHUNK) written += (await bulkUpdateStatus(pool, kind, rows.slice(i, i + CHUNK))).length;
  }
  return written;
}
