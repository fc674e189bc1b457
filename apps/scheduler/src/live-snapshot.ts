import type { CacheDelta, ClusterCache, StoredObject } from "@eiaas/db";
import { buildSnapshot, taskInit, type Snapshot, type SnapshotTask } from "@eiaas/scheduling";
import { endedByControlPlane, HeldRuns, runName } from "./held-runs.js";
import { specified } from "./specified.js";
import { isTerminal } from "./workload-status.js";

/** What the snapshot is built from: the cache's nodes, tenants and tasks. */
export type SnapshotSource = Pick<ClusterCache, "nodes" | "tenants" | "tasks">;

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
 * comes back through the watch log as tasks. Runs agents still report of tasks the control plane
 * ended are held on their nodes until they stop ({@link HeldRuns}).
 */
export class LiveSnapshot {
  private current?: Snapshot;

  /** `defaultMaxPriority`: the priority cap of tenants without spec.maxPriority (see SnapshotInit). */
  constructor(private readonly defaultMaxPriority?: number) {}

  private readonly placed = new Map<string, SnapshotTask>();
  private readonly held = new HeldRuns();
  private readonly tenantOnly = new Map<string, TenantOnly>();

  /** The snapshot as of the cache's last sync; call `update` first in every cycle. */
  get snapshot(): Snapshot {
    if (!this.current) throw new Error("LiveSnapshot used before its first update");
    return this.current;
  }

  /** Brings the snapshot to the cache's state after `delta` was applied to it. */
  update(cache: SnapshotSource, delta: Pick<CacheDelta, "relisted" | "fleetChanged" | "tasks"> & Partial<Pick<CacheDelta, "nodesRunning">>): Snapshot {
    const relist = !this.current || delta.relisted;
    // Nodes whose held runs are to be looked at again: those whose reports changed, and those where
    // a task just ended without its agent finishing it.
    const touched = new Set(delta.nodesRunning ?? []);
    if (!relist) this.noteEnded(delta.tasks, touched);
    if (relist || delta.fleetChanged) return this.rebuild(cache, relist);
    const s = this.current!;
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
      if (counted) {
        this.add(s, t);
        this.held.replaced(s, t.spec.nodeName, runName(t));
      }
    }
    this.held.sync(s, touched, cache.nodes);
    s.commit();
    return s;
  }

  /** Tasks that counted on a node and stopped without their agent finishing them (deleted unfinished, failed by the control plane). */
  private noteEnded(tasks: CacheDelta["tasks"], touched: Set<string>): void {
    const s = this.current!;
    for (const [uid, t] of tasks) {
      const was = this.placed.get(uid);
      if (!was || (t !== undefined && !endedByControlPlane(t))) continue;
      const node = s.nodes[was.nodeIndex]!.name;
      const r = was.resources;
      this.held.ended(node, `${was.namespace}/${was.name}`, {
        name: was.name,
        namespace: was.namespace,
        node,
        role: was.role,
        priority: was.priority,
        createdAt: was.createdAt,
        resources: { cpu: r.cpu, memoryMiB: r.memoryMiB, gpu: r.gpu },
        load: was.load,
        ...(was.uid !== undefined ? { uid: was.uid } : {}),
        ...(was.owner !== undefined ? { owner: was.owner } : {}),
      });
      touched.add(node);
    }
  }

  /**
   * A snapshot built from scratch from the cache (also what `update` does after fleet changes).
   * `relisted`: the cache was listed anew, so the held runs are found again from what nodes report.
   */
  rebuild(cache: SnapshotSource, relisted = true): Snapshot {
    const s = buildSnapshot({
      nodes: [...cache.nodes.values()].map(specified),
      tenants: [...cache.tenants.values()].map(specified),
      tasks: [],
      ...(this.defaultMaxPriority !== undefined ? { defaultMaxPriority: this.defaultMaxPriority } : {}),
    });
    this.placed.clear();
    this.tenantOnly.clear();
    for (const t of cache.tasks.values()) if (!isTerminal(t)) this.add(s, t);
    if (relisted) this.held.relisted(s, cache.nodes, cache.tasks);
    else this.held.rebuilt(s, cache.nodes);
    s.commit();
    this.current = s;
    return s;
  }

  /** Runs nodes still report of tasks the control plane ended, held on their nodes (`<node>: <namespace>/<name>`). */
  heldRuns(): string[] {
    return this.held.list();
  }

  private add(s: Snapshot, t: StoredObject): void {
    const init = taskInit(specified(t));
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
