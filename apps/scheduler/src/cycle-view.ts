import { kindInfo } from "@eiaas/api";
import type { CacheDelta, ClusterCache, StoredObject } from "@eiaas/db";
import type { Workload } from "./plan-workload.js";

const ISVC = kindInfo("InferenceService");
const TJ = kindInfo("TrainingJob");

/** What one cycle counted; returned by `WorkloadController.cycle`. */
export interface CycleStats {
  planned: number;
  bound: number;
  unschedulable: number;
  /** Workloads whose planning or bind failed with an error (PlanFailed, BindFailed): retried with backoff. */
  failed: number;
  statusWrites: number;
  deletedTasks: number;
  /** Tasks evicted for higher-priority workloads. */
  preempted: number;
  /** Workloads whose status was folded this cycle (the changed ones; all after a re-list). */
  folded: number;
  /** Whether the cycle started from a full re-list rather than the change log. */
  relisted: boolean;
  /** The tasks this cycle bound (committed Dispatched). */
  boundTasks: StoredObject[];
  /** The first failed enqueue of what was bound (the repair pass puts those jobs on later). */
  dispatchError?: Error;
}

export function emptyStats(relisted: boolean): CycleStats {
  return { planned: 0, bound: 0, unschedulable: 0, failed: 0, statusWrites: 0, deletedTasks: 0, preempted: 0, folded: 0, relisted, boundTasks: [] };
}

/**
 * The workloads one cycle looks at, through the cache and the delta its sync returned. Most cycles
 * look at the few workloads the log changed; every workload (thousands) only after a re-list, when
 * room may have appeared or links changed — so the full list is built on first use only, and a
 * workload's tasks are looked up only for the workloads the cycle looks at.
 */
export class CycleView {
  private everyWorkload: Workload[] | undefined;

  constructor(
    readonly cache: ClusterCache,
    readonly delta: CacheDelta,
  ) {}

  /** Every workload not being deleted. */
  all(): Workload[] {
    return (this.everyWorkload ??= [...this.cache.workloads.values()].filter((obj) => !obj.metadata.deletionTimestamp).map((obj) => this.workloadOf(obj)));
  }

  /** The workloads of these uids that exist and are not being deleted. */
  byUid(uids: Iterable<string>): Workload[] {
    const out: Workload[] = [];
    for (const uid of uids) {
      const obj = this.cache.workloads.get(uid);
      if (obj && !obj.metadata.deletionTimestamp) out.push(this.workloadOf(obj));
    }
    return out;
  }

  /** Whether the log changed the workload (or one of its tasks) since the last cycle; all do after a re-list. */
  changed(w: Workload): boolean {
    return this.delta.relisted || this.delta.workloads.has(w.obj.metadata.uid);
  }

  /** The workload's Model, looked up in its namespace. */
  modelOf(w: Workload): StoredObject | undefined {
    return this.cache.models.get(`${w.obj.metadata.namespace}/${w.obj.spec.model}`);
  }

  private workloadOf(obj: StoredObject): Workload {
    const cache = this.cache;
    let tasks: StoredObject[] | undefined;
    return {
      kind: obj.kind === TJ.kind ? TJ : ISVC,
      obj,
      get tasks() {
        return (tasks ??= cache.tasksOf(obj.metadata.uid));
      },
    };
  }
}
