import { kindInfo } from "@eiaas/api";
import type { ObjectStore, StoredObject } from "@eiaas/db";
import type { Logger } from "@eiaas/telemetry";
import type pg from "pg";
import type { CycleStats, CycleView } from "./cycle-view.js";
import { foldStatus } from "./fold-status.js";
import type { Workload } from "./plan-workload.js";
import { StatusBatch } from "./status-batch.js";
import { sameJson } from "./workload-status.js";

const TASK = kindInfo("Task");

/**
 * How the controller writes workload status: the fold of task phases (batched, one statement per
 * kind per cycle), progress-only changes held back per workload, and single writes (a workload not
 * scheduled) outside a fold. Superseded tasks are stopped here too, once their replacements run.
 */
export class WorkloadStatusWriter {
  /** Set while a cycle folds task phases into workload status: the writes go out together. */
  private batch?: StatusBatch;
  /** Progress-only status changes held back, by workload uid: when they are due. */
  private readonly deferred = new Map<string, number>();
  /** When each workload's status was last written by a fold or a bind (for holding back progress-only changes). */
  private readonly lastWrite = new Map<string, number>();

  constructor(
    private readonly deps: { pool: pg.Pool; store: ObjectStore; logger: Logger },
    /** Shortest time between two progress-only status writes of one workload. */
    private readonly progressMs: number,
  ) {}

  /** Workloads it remembers something of. */
  uids(): Iterable<string> {
    return this.lastWrite.keys();
  }

  /** The workload is gone: forget it. */
  forget(uid: string): void {
    this.lastWrite.delete(uid);
    this.deferred.delete(uid);
  }

  /**
   * Folds task phases into the changed workloads' status (and those whose held-back progress is
   * due), skipping `fresh`: the workloads whose bind just wrote their status (their next fold sees
   * the bind's own log entries). A bind's write is the one the progress period counts from, so the
   * first task reports after it are held back like any other progress — usually until the phase
   * change that all of them running makes.
   */
  async fold(view: CycleView, fresh: ReadonlySet<string>, stats: CycleStats, now: Date): Promise<void> {
    const nowMs = now.getTime();
    for (const uid of fresh) this.lastWrite.set(uid, nowMs);
    this.batch = new StatusBatch();
    try {
      const dueNow = [...this.deferred].flatMap(([uid, at]) => (at <= nowMs ? [uid] : []));
      for (const w of view.delta.relisted ? view.all() : view.byUid(new Set([...view.delta.workloads, ...dueNow]))) {
        const uid = w.obj.metadata.uid;
        const due = this.deferred.get(uid);
        if (fresh.has(uid) || (!view.changed(w) && (due === undefined || due > nowMs))) continue;
        this.deferred.delete(uid);
        stats.folded++;
        try {
          stats.deletedTasks += await this.aggregate(w, now);
        } catch (err) {
          // One workload's status that cannot be folded (a stored object the fold cannot read)
          // must not stop the others'; the next change of it tries again.
          this.deps.logger.warn({ err, workload: `${w.obj.metadata.namespace}/${w.obj.metadata.name}` }, "folding task phases into workload status failed");
        }
      }
      stats.statusWrites += await this.batch.flush(this.deps.pool, this.deps.logger);
    } finally {
      this.batch = undefined;
    }
  }

  /** Task phases → workload phase, conditions, endpoints; superseded tasks stop once replaced. Returns the tasks deleted. */
  private async aggregate(w: Workload, now: Date): Promise<number> {
    if (!w.obj.status?.planRevision) return 0;
    const { status, superseded } = foldStatus(w.kind.kind as "InferenceService" | "TrainingJob", w.obj, w.tasks, now.toISOString());
    const deleted = superseded.length ? await this.deleteTasks(superseded) : 0;
    // A change of progress only (a message's task count) is written at most once per progress
    // period per workload: every task report would otherwise rewrite its owner. Held back, it is
    // folded again when due; phase and condition changes always go out at once.
    const nowMs = now.getTime();
    const last = this.lastWrite.get(w.obj.metadata.uid);
    if (last !== undefined && nowMs - last < this.progressMs && progressOnly(w.obj.status ?? {}, status)) {
      this.deferred.set(w.obj.metadata.uid, last + this.progressMs);
      return deleted;
    }
    if (!sameJson(status, w.obj.status ?? {})) this.lastWrite.set(w.obj.metadata.uid, nowMs);
    await this.write(w, status);
    return deleted;
  }

  /** Writes the status unless unchanged; within a fold it joins the batch (counted when the batch is written). Returns the writes made. */
  async write(w: Workload, status: Record<string, unknown>): Promise<number> {
    if (sameJson(status, w.obj.status ?? {})) return 0;
    if (this.batch) {
      this.batch.add(w.kind, w.obj, status);
      return 0;
    }
    try {
      await this.deps.store.updateStatus(w.kind, w.obj, status);
      return 1;
    } catch (err) {
      // Changed meanwhile (a user edit, another write): the next cycle sees the new version.
      this.deps.logger.debug({ err, workload: w.obj.metadata.name }, "status write skipped");
      return 0;
    }
  }

  async deleteTasks(tasks: StoredObject[]): Promise<number> {
    if (!tasks.length) return 0;
    await this.deps.store.applyBatch(tasks.map((object) => ({ type: "delete" as const, kind: TASK, object }))).catch((err) => {
      this.deps.logger.debug({ err }, "superseded task delete skipped");
    });
    return tasks.length;
  }
}

/**
 * Whether two statuses differ at most in their conditions' messages and training's KPIs and round
 * (progress, not state): a job's rounds are written at most once per progress period.
 */
function progressOnly(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const strip = (s: Record<string, unknown>) => ({
    ...s,
    training: undefined,
    round: undefined,
    serving: undefined,
    conditions: ((s.conditions as Array<Record<string, unknown>> | undefined) ?? []).map((c) => ({ ...c, message: undefined })),
  });
  return sameJson(strip(a), strip(b));
}
