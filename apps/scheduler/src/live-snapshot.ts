import type { CacheDelta, ClusterCache, StoredObject } from "@eiaas/db";

/** What the snapshot is built from: the cache's nodes, tenants and tasks. */
export type SnapshotSource = Pick<ClusterCache, "nodes" | "tenants" | "tasks">;
import { buildSnapshot, taskInit, type EdgeNodeLike, type Snapshot, type SnapshotTask, type TaskLike, type TenantLike } from "@eiaas/scheduling";
import { isTerminal } from "./workload-status.js";

/** A task counted only against its tenant (its node is not in the snapshot). */
interface TenantOnly {
  namespace: string;
  resources: { cpu: number; memoryMiB: number; gpu: number };
}

/**
 * The scheduling Snapshot kept across cycles, as kube-scheduler keeps its cache and updates its
 * snapshot incrementally: rebuilt only when a node or tenant changed (or after a re-list); between
 * those, every task that started or stopped counting is reserved or released in place. A cycle
 * works on top of a `mark()` and rolls its tentative placements back at the end — what it bound
 * comes back through the watch log as tasks.
 */
export class LiveSnapshot {
  private current?: Snapshot;

  /** `defaultMaxPriority`: the priority cap of tenants without spec.maxPriority (see SnapshotInit). */
  constructor(private readonly defaultMaxPriority?: number) {}

  private readonly placed = new Map<string, SnapshotTask>();
  private readonly tenantOnly = new Map<string, TenantOnly>();

  /** The snapshot as of the cache's last sync; call `update` first in every cycle. */
  get snapshot(): Snapshot {
    if (!this.current) throw new Error("LiveSnapshot used before its first update");
    return this.current;
  }

  /** Brings the snapshot to the cache's state after `delta` was applied to it. */
  update(cache: SnapshotSource, delta: Pick<CacheDelta, "relisted" | "fleetChanged" | "tasks">): Snapshot {
    if (!this.current || delta.relisted || delta.fleetChanged) return this.rebuild(cache);
    const s = this.current;
    for (const [uid, t] of delta.tasks) {
      const counted = t !== undefined && !isTerminal(t);
      const was = this.placed.get(uid);
      const wasTenantOnly = this.tenantOnly.get(uid);
      if (counted && (was || wasTenantOnly)) continue; // spec is immutable: still counted the same
      if (was) {
        s.release(was);
        this.placed.delete(uid);
      } else if (wasTenantOnly) {
        const r = wasTenantOnly.resources;
        s.adjustTenant(wasTenantOnly.namespace, -r.cpu, -r.memoryMiB, -r.gpu, -1);
        this.tenantOnly.delete(uid);
      }
      if (counted) this.add(s, t);
    }
    s.commit();
    return s;
  }

  /** A snapshot built from scratch from the cache (also what `update` does after fleet changes). */
  rebuild(cache: SnapshotSource): Snapshot {
    const nodes = [...cache.nodes.values()];
    const s = buildSnapshot({
      nodes: nodes as unknown as EdgeNodeLike[],
      tenants: [...cache.tenants.values()] as unknown as TenantLike[],
      tasks: [],
      ...(this.defaultMaxPriority !== undefined ? { defaultMaxPriority: this.defaultMaxPriority } : {}),
    });
    this.placed.clear();
    this.tenantOnly.clear();
    for (const t of cache.tasks.values()) if (!isTerminal(t)) this.add(s, t);
    s.commit();
    this.current = s;
    return s;
  }

  private add(s: Snapshot, t: StoredObject): void {
    const init = taskInit(t as unknown as TaskLike);
    if (s.nodeIndex(init.node) >= 0) {
      this.placed.set(t.metadata.uid, s.reserve(init));
      return;
    }
    // Not on a known node, yet still counted against the tenant's quota (as buildSnapshot does).
    const r = { cpu: init.resources?.cpu ?? 0, memoryMiB: init.resources?.memoryMiB ?? 0, gpu: init.resources?.gpu ?? 0 };
    s.adjustTenant(init.namespace, r.cpu, r.memoryMiB, r.gpu, 1);
    this.tenantOnly.set(t.metadata.uid, { namespace: init.namespace, resources: r });
  }

  /** The snapshot task of a counted, placed task (for planning as if it were gone). */
  placedTask(uid: string): SnapshotTask | undefined {
    return this.placed.get(uid);
  }
}
