import { kindInfo } from "@eiaas/api";
import { bulkUpdateStatus, type ClusterCache, type StoredObject } from "@eiaas/db";
import { dominantShare, type Snapshot } from "@eiaas/scheduling";
import type pg from "pg";
import { sameJson } from "./workload-status.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;

/** The status writes of one publish step. */
export interface UsageUpdates {
  nodes: Array<{ object: StoredObject; status: Record<string, unknown> }>;
  tenants: Array<{ object: StoredObject; status: Record<string, unknown> }>;
}

export interface UsagePublisherOptions {
  /** Most rows (nodes and tenants) one step writes, in one statement per kind. @defaultValue 50 */
  rowsPerStep?: number;
  /** Most nodes one step looks at (the rest wait for the next steps). @defaultValue 1000 */
  nodesPerStep?: number;
}

/**
 * Publishes what the task rows add up to: `EdgeNode.status.allocated` (cpu, memory, gpu, load) and
 * `Tenant.status.usage` / `dominantShare`, for `kubectl get`, `eictl top` and operators. Read off
 * the scheduler's snapshot (summed from the unfinished tasks, the source of truth), never read back
 * by the scheduler; only rows whose figures changed are written.
 *
 * A bounded number of rows per step, the nodes taken round-robin: every node row written is a
 * watch event that the API's cache and the scheduler's read, so at 5,000 nodes a pass over all
 * of them — even in chunks — was a burst of thousands of writes and a latency spike for the
 * tasks in flight (bench:dispatch, "slowest task by second of arrival"). As kubelets moved their
 * heartbeats off the Node object for the same reason, this keeps display figures off the hot
 * path: at 50 rows a step each second, 5,000 busy nodes are each refreshed within ~100 s, a
 * 16-node fleet at once.
 */
export class UsagePublisher {
  private cursor = 0;

  constructor(private readonly options: UsagePublisherOptions = {}) {}

  /**
   * The next step's writes, computed now (call it outside planning, when the snapshot holds only
   * what is bound): tenants first, then nodes from where the last step stopped.
   */
  next(cache: ClusterCache, snapshot: Snapshot): UsageUpdates {
    let room = this.options.rowsPerStep ?? 50;
    const tenants: UsageUpdates["tenants"] = [];
    for (const t of cache.tenants.values()) {
      if (room === 0) break;
      const u = snapshot.usageOf(t.metadata.name);
      const usage = { cpu: round(u.cpu), memoryMiB: round(u.memoryMiB), gpu: round(u.gpu), tasks: u.tasks };
      const share = round(dominantShare(snapshot, t.metadata.name));
      const status = { ...t.status, phase: t.metadata.deletionTimestamp ? "Terminating" : "Active", usage, dominantShare: share };
      if (!sameJson(status, t.status ?? {})) {
        tenants.push({ object: t, status });
        room--;
      }
    }
    const all = [...cache.nodes.values()];
    const nodes: UsageUpdates["nodes"] = [];
    const look = Math.min(all.length, this.options.nodesPerStep ?? 1000);
    for (let k = 0; k < look && room > 0; k++) {
      const n = all[(this.cursor + k) % all.length]!;
      const i = snapshot.nodeIndex(n.metadata.name);
      const a = i >= 0 ? snapshot.allocationOf(i) : { cpu: 0, memoryMiB: 0, gpu: 0, load: 0 };
      const allocated = { cpu: round(a.cpu), memoryMiB: round(a.memoryMiB), gpu: round(a.gpu), load: round(a.load) };
      if (!sameJson(allocated, n.status?.allocated ?? { cpu: 0, memoryMiB: 0, gpu: 0, load: 0 })) {
        nodes.push({ object: n, status: { ...n.status, allocated } });
        room--;
      }
      if (room === 0 || k === look - 1) this.cursor = all.length ? (this.cursor + k + 1) % all.length : 0;
    }
    return { nodes, tenants };
  }
}

/**
 * Writes a step's updates, one statement per kind, each conditional on the version read: a row
 * that changed meanwhile is simply written by a later step. Returns the rows written.
 */
export async function writeUsage(pool: pg.Pool, updates: UsageUpdates): Promise<number> {
  return (await bulkUpdateStatus(pool, TENANT, updates.tenants)).length + (await bulkUpdateStatus(pool, NODE, updates.nodes)).length;
}
