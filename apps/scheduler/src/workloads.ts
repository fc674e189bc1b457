import { kindInfo } from "@eiaas/api";
import { ClusterCache, type BindOutcome, type EventInput, type EventRecorder, type ObjectStore, type StoredObject } from "@eiaas/db";
import { orderQueue, taskInit, type Snapshot } from "@eiaas/scheduling";
import { specified } from "./specified.js";
import type { Logger } from "@eiaas/telemetry";
import type pg from "pg";
import { PLAN_SIZE_LABEL } from "./task-factory.js";
import { StatusBatch } from "./status-batch.js";
import { UsagePublisher, writeUsage } from "./usage-status.js";
import { preemptFor } from "./preemption.js";
import { LiveSnapshot } from "./live-snapshot.js";
import { EventBuffer } from "./event-buffer.js";
import { BindPipeline } from "./bind-pipeline.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { ERROR_REASONS, planWorkload, type Decision, type Failure, type Workload } from "./plan-workload.js";
import { foldStatus } from "./fold-status.js";
import { linkFingerprint, servicesToReplan } from "./relink.js";
import { servicesOffPrediction } from "./measured-drift.js";
import { DEFAULT_MEASUREMENT_MAX_AGE_MS, MeasurementIndex } from "./measured.js";
import { isTerminal, phaseOf, sameJson, splitByRevision } from "./workload-status.js";
import { notScheduledStatus } from "./not-scheduled.js";
import { LostDeadlines } from "./participants-lost.js";

const ISVC = kindInfo("InferenceService");
const TJ = kindInfo("TrainingJob");
const TASK = kindInfo("Task");

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

export interface WorkloadControllerOptions {
  /** Periodic full re-list of the cluster cache, on top of the ones it needs. Default: none (see ClusterCacheOptions.relistMs). */
  relistMs?: number;
  /** How often a step of node allocation and tenant usage publishing runs (for display). Default 1 000 ms. */
  usageMs?: number;
  /** Most node and tenant rows one publishing step writes (see UsagePublisher). Default 50. */
  usageRowsPerStep?: number;
  /** Shortest time between two progress-only status writes of one workload. Default 1 000 ms. */
  progressMs?: number;
  /** Tasks per bind transaction (planning continues while one is bound). Default 1 000. */
  bindChunkTasks?: number;
  /** Priority cap of tenants without spec.maxPriority (EIAAS_DEFAULT_MAX_PRIORITY). Default 0. */
  defaultMaxPriority?: number;
  /** Waits between retries of a workload whose planning or bind failed with an error. Default 1 s doubling to 5 min. */
  backoff?: BackoffOptions;
  /** How long measured figures (segment timings, clients' end-to-end latency) count. Default 30 min. */
  measurementMaxAgeMs?: number;
  /** A client's measured latency further than this fraction from its prediction re-plans its service. Default 0.2. */
  driftFraction?: number;
}

/**
 * The workload controller. Each cycle brings its cluster cache up to date from the watch log (a
 * full re-list at start and after errors: level-triggered), plans the workloads that
 * need a plan (new, spec changed, a task failed) in queue order (priority, then weighted dominant
 * share) — the changed ones, or all waiting ones when room may have appeared — binds the plans
 * beside planning (bind-pipeline.ts: a transaction per chunk of ~1,000 tasks, the plans written
 * into the owners' status in the same statement), then folds the
 * changed workloads' task phases into their status and stops superseded tasks once their
 * replacements run (roll-over without a gap). A quiet cycle costs one indexed read.
 */
export class WorkloadController {
  /** The fleet's links as of the last re-plan check (Edgent's dynamic mode). */
  private linkFingerprint = "";
  /** Set while a cycle folds task phases into workload status: the writes go out together. */
  private statusBatch?: StatusBatch;
  private lastUsage = Number.NEGATIVE_INFINITY;
  private readonly usage: UsagePublisher;
  /** The usage step being written, if any. */
  private publishing: Promise<void> | undefined;
  readonly cache: ClusterCache;
  /** The scheduling snapshot, kept up to date from the cache's deltas. */
  private readonly live: LiveSnapshot;
  /** Events go out behind the loop. */
  readonly events: EventBuffer;
  /** Progress-only status changes held back, by workload uid: when they are due. */
  private readonly deferred = new Map<string, number>();
  /** When each workload's status was last written by a fold or a bind (for holding back progress-only changes). */
  private readonly lastFold = new Map<string, number>();
  /** Workloads whose planning or bind failed, waiting to be tried again. */
  private readonly backoff: Backoff;
  /** TrainingJobs waiting for lost participants: looked at again when their deadline is up. */
  private readonly lost = new LostDeadlines();
  /** Measured segment timings, as the planner reads them. */
  private readonly measurements: MeasurementIndex;

  constructor(
    private readonly deps: {
      pool: pg.Pool;
      store: ObjectStore;
      events: EventRecorder;
      logger: Logger;
      /** Enqueues bound tasks (the dispatcher); without it the caller enqueues `boundTasks`. */
      dispatch?: (tasks: StoredObject[]) => Promise<unknown>;
    },
    private readonly options: WorkloadControllerOptions = {},
  ) {
    this.cache = new ClusterCache(deps.pool, options.relistMs !== undefined ? { relistMs: options.relistMs } : {});
    this.live = new LiveSnapshot(options.defaultMaxPriority ?? 0);
    this.events = new EventBuffer(deps.events, deps.logger);
    this.usage = new UsagePublisher(options.usageRowsPerStep !== undefined ? { rowsPerStep: options.usageRowsPerStep } : {});
    this.backoff = new Backoff(options.backoff ?? {});
    this.measurements = new MeasurementIndex(this.maxAgeMs);
  }

  private get maxAgeMs(): number {
    return this.options.measurementMaxAgeMs ?? DEFAULT_MEASUREMENT_MAX_AGE_MS;
  }

  /** Resolves once the usage step being written (if any) is done; before the pool closes. */
  async usageWritten(): Promise<void> {
    await this.publishing;
  }

  async cycle(now = new Date()): Promise<CycleStats> {
    try {
      return await this.runCycle(now);
    } catch (err) {
      // What this cycle decided may be half written: start the next one from a full re-list.
      this.cache.invalidate();
      throw err;
    }
  }

  private async runCycle(now: Date): Promise<CycleStats> {
    const delta = await this.cache.sync(now.getTime());
    for (const uid of delta.relisted ? [...this.lastFold.keys(), ...this.backoff.uids(), ...this.lost.uids()] : delta.workloads) {
      if (!this.cache.workloads.has(uid)) {
        this.lastFold.delete(uid);
        this.deferred.delete(uid);
        this.backoff.forget(uid);
        this.lost.forget(uid);
      }
    }
    const stats: CycleStats = { planned: 0, bound: 0, unschedulable: 0, failed: 0, statusWrites: 0, deletedTasks: 0, preempted: 0, folded: 0, relisted: delta.relisted, boundTasks: [] };
    const nowMs = now.getTime();
    const cache = this.cache;
    const workloadOf = (obj: StoredObject): Workload => {
      // Looked up only for the workloads the cycle looks at (most are unchanged).
      let tasks: StoredObject[] | undefined;
      return {
        kind: obj.kind === TJ.kind ? TJ : ISVC,
        obj,
        get tasks() {
          return (tasks ??= cache.tasksOf(obj.metadata.uid));
        },
      };
    };
    // Most cycles look at the few workloads the log changed; every workload (thousands) only after
    // a re-list, when room may have appeared or links changed.
    let everyWorkload: Workload[] | undefined;
    const all = () => (everyWorkload ??= [...cache.workloads.values()].filter((obj) => !obj.metadata.deletionTimestamp).map(workloadOf));
    const only = (uids: Iterable<string>) => {
      const out: Workload[] = [];
      for (const uid of uids) {
        const obj = cache.workloads.get(uid);
        if (obj && !obj.metadata.deletionTimestamp) out.push(workloadOf(obj));
      }
      return out;
    };
    const changed = (w: Workload) => delta.relisted || delta.workloads.has(w.obj.metadata.uid);
    const modelOf = (w: Workload) => cache.models.get(`${w.obj.metadata.namespace}/${w.obj.spec.model}`);
    const snapshot = this.live.update(cache, delta);
    snapshot.setMeasurements(this.measurements.current(cache, delta.relisted || delta.profilesChanged, nowMs));
    // Everything this cycle reserves is tentative: rolled back at the end, the bound part comes
    // back through the log as tasks.
    const base = snapshot.mark();
    const decisions: Decision[] = [];
    const binds = new BindPipeline(this.deps.pool, { ...(this.deps.dispatch ? { dispatch: this.deps.dispatch } : {}), ...(this.options.bindChunkTasks ? { chunkTasks: this.options.bindChunkTasks } : {}) });
    let outcomes: BindOutcome[] = [];
    try {
      let relink = new Set<string>();
      if (delta.linksChanged) {
        const fingerprint = linkFingerprint(cache.nodes.values());
        if (fingerprint !== this.linkFingerprint) {
          const running = all().filter((w) => w.kind === ISVC && w.obj.status?.phase === "Running" && w.obj.status?.plan?.clients?.length);
          relink = servicesToReplan(running, cache.models, snapshot, (uid) => this.live.placedTask(uid), this.deps.logger);
        }
        this.linkFingerprint = fingerprint;
      }
      // Clients that measured their plan far off its prediction (their reports change the service).
      const reported = only(delta.relisted ? cache.workloads.keys() : delta.workloads).filter((w) => w.kind === ISVC && w.obj.status?.phase === "Running" && w.obj.status?.measured?.length && !relink.has(w.obj.metadata.uid));
      if (reported.length) {
        const drifted = servicesOffPrediction(reported, cache.models, snapshot, (uid) => this.live.placedTask(uid), this.deps.logger, {
          nowMs,
          maxAgeMs: this.maxAgeMs,
          ...(this.options.driftFraction !== undefined ? { fraction: this.options.driftFraction } : {}),
        });
        for (const uid of drifted) relink.add(uid);
      }
      // A waiting workload is tried again only when it changed or room may have appeared; one whose
      // planning or bind failed, when its backoff is over (or its spec changed), not before; a job
      // waiting for lost participants also when its deadline is up (to fail, or be placed).
      const retry = this.backoff.size || this.lost.size ? new Set([...this.backoff.due(nowMs), ...this.lost.due(nowMs)]) : undefined;
      const looked = delta.relisted || delta.roomChanged || relink.size ? all() : only(retry ? new Set([...delta.workloads, ...retry]) : delta.workloads);
      const candidates = looked.filter((w) => {
        const uid = w.obj.metadata.uid;
        if (this.backoff.size && this.backoff.waiting(uid, w.obj.metadata.generation, nowMs)) return false;
        return ((changed(w) || delta.roomChanged || retry?.has(uid)) && this.needsPlan(w)) || relink.has(uid);
      });
      if (retry) {
        // Due but needing no plan any more (placed by a spec change meanwhile): nothing to retry.
        const planning = new Set(candidates.map((w) => w.obj.metadata.uid));
        for (const uid of retry) {
          if (planning.has(uid)) continue;
          this.backoff.forget(uid);
          this.lost.forget(uid);
        }
      }
      const pending = orderQueue(
        snapshot,
        candidates.map((w) => ({ w, namespace: w.obj.metadata.namespace!, name: w.obj.metadata.name, kind: w.kind.kind, priority: w.obj.spec.priority ?? 0, createdAt: w.obj.metadata.creationTimestamp })),
      ).map((item) => item.w);

      let sinceYield = 0;
      for (const w of pending) {
        stats.planned++;
        // Planning is CPU, binding is Postgres: while a chunk is being bound, let its round trips
        // advance every few plans instead of after the whole queue.
        if (++sinceYield >= 8 && binds.busy) {
          sinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        const own = w.tasks.flatMap((t) => {
          const placed = isTerminal(t) ? undefined : this.live.placedTask(t.metadata.uid);
          return placed ? [placed] : [];
        });
        if (!own.length) {
          const d = planWorkload(this, w, snapshot, modelOf(w), now, this.deps.store, this.maxAgeMs);
          if (d.group) binds.add(d.group);
          decisions.push(d);
          continue;
        }
        // A workload with tasks already placed plans as if they were gone (their resources come
        // back to it); the binder still counts them until they stop, so a roll-over needs room for
        // both: the new plan is reserved on top of the old tasks for the workloads after it.
        const m = snapshot.mark();
        for (const t of own) snapshot.release(t);
        const d = planWorkload(this, w, snapshot, modelOf(w), now, this.deps.store, this.maxAgeMs);
        snapshot.rollback(m);
        for (const t of d.group?.tasks ?? []) snapshot.reserve(taskInit(specified(t)));
        if (d.group) binds.add(d.group);
        decisions.push(d);
      }

      outcomes = await binds.finish();
      await this.settle(decisions, outcomes, snapshot, stats, now);
    } finally {
      snapshot.rollback(base);
    }
    const outcomeById = new Map(outcomes.map((o) => [o.id, o]));

    // Fold task phases into the changed workloads' status (written together); skip what the binds
    // just changed (their next fold sees the bind's own log entries).
    const fresh = new Set(decisions.filter((d) => d.group && outcomeById.get(d.group.id)?.bound).map((d) => d.w.obj.metadata.uid));
    // A bind writes its workload's status (its new tasks folded in, none running yet): that is the
    // write the progress period counts from, so the first task reports after it are held back
    // like any other progress — usually until the phase change that all of them running makes.
    for (const uid of fresh) this.lastFold.set(uid, now.getTime());
    this.statusBatch = new StatusBatch();
    try {
      const dueNow = [...this.deferred].flatMap(([uid, at]) => (at <= nowMs ? [uid] : []));
      for (const w of delta.relisted ? all() : only(new Set([...delta.workloads, ...dueNow]))) {
        const uid = w.obj.metadata.uid;
        const due = this.deferred.get(uid);
        if (fresh.has(uid) || (!changed(w) && (due === undefined || due > nowMs))) continue;
        this.deferred.delete(uid);
        stats.folded++;
        try {
          const r = await this.aggregate(w, now);
          stats.deletedTasks += r.deleted;
        } catch (err) {
          // One workload's status that cannot be folded (a stored object the fold cannot read)
          // must not stop the others'; the next change of it tries again.
          this.deps.logger.warn({ err, workload: `${w.obj.metadata.namespace}/${w.obj.metadata.name}` }, "folding task phases into workload status failed");
        }
      }
      stats.statusWrites += await this.statusBatch.flush(this.deps.pool, this.deps.logger);
    } finally {
      this.statusBatch = undefined;
    }
    // Display figures, a bounded step at a time, written behind the cycles: the next cycles plan
    // and bind meanwhile; one step at a time.
    if (now.getTime() - this.lastUsage >= (this.options.usageMs ?? 1_000) && !this.publishing) {
      this.lastUsage = now.getTime();
      this.publishing = writeUsage(this.deps.pool, this.usage.next(cache, snapshot))
        .then(() => undefined, (err: Error) => this.deps.logger.warn({ err }, "publishing node allocation and tenant usage failed; next pass retries"))
        .finally(() => (this.publishing = undefined));
    }
    const dispatchError = await binds.dispatched();
    if (dispatchError !== undefined) stats.dispatchError = dispatchError as Error;
    return stats;
  }

  /**
   * What each decision came to: bound (Scheduled Event), an error of its own (PlanFailed,
   * BindFailed: condition, Event, backoff), or no room (Unschedulable: condition, Event,
   * preemption for priority workloads).
   */
  private async settle(decisions: readonly Decision[], outcomes: readonly BindOutcome[], snapshot: Snapshot, stats: CycleStats, now: Date): Promise<void> {
    const outcomeById = new Map(outcomes.map((o) => [o.id, o]));
    const scheduled: EventInput[] = [];
    for (const d of decisions) {
      const o = d.group ? outcomeById.get(d.group.id) : undefined;
      const uid = d.w.obj.metadata.uid;
      if (o?.bound) {
        stats.bound += o.tasks.length;
        stats.boundTasks.push(...o.tasks);
        if (this.backoff.size) this.backoff.forget(uid);
        if (this.lost.size) this.lost.forget(uid);
        scheduled.push({ involved: involved(d.w), type: "Normal", reason: "Scheduled", message: d.group!.owner!.object.status.conditions.find((c: any) => c.type === "Scheduled")?.message ?? "scheduled" });
        continue;
      }
      const failure: Failure = d.failure ?? (o && !o.bound ? { reason: o.failed ? "BindFailed" : "Unschedulable", message: o.reason } : { reason: "Unschedulable", message: "not bound" });
      if (ERROR_REASONS.has(failure.reason)) {
        // This workload's own error: it waits, the others were planned and bound as usual.
        stats.failed++;
        const waitMs = this.backoff.fail(uid, d.w.obj.metadata.generation, now.getTime());
        stats.statusWrites += await this.markNotScheduled(d.w, failure, now, waitMs);
        continue;
      }
      if (this.backoff.size) this.backoff.forget(uid);
      stats.unschedulable++;
      // Only when the planner says room alone was missing (kube-scheduler's Unschedulable, not
      // UnschedulableAndUnresolvable): evicting tasks cannot meet an SLO or a node selector.
      if (failure.reason === "Unschedulable" && failure.code === "Unschedulable") {
        const model = this.cache.models.get(`${d.w.obj.metadata.namespace}/${d.w.obj.spec.model}`);
        stats.preempted += await preemptFor({ pool: this.deps.pool, events: this.deps.events, logger: this.deps.logger }, snapshot, d.w.obj, model, this.cache.tasks, now);
      }
      stats.statusWrites += await this.markNotScheduled(d.w, failure, now);
    }
    this.events.add(scheduled, now);
  }

  needsPlan(w: Workload): boolean {
    const status = w.obj.status ?? {};
    if (w.kind === TJ && (status.phase === "Succeeded" || status.phase === "Failed")) return false;
    if (!status.planRevision) return true;
    if (status.observedGeneration !== w.obj.metadata.generation) return true;
    const { current } = splitByRevision(w.obj, w.tasks);
    if (current.length === 0) return true;
    // Some of the revision's tasks were deleted or evicted (drain): place them again.
    if (current.length < Number(current[0]!.metadata.labels?.[PLAN_SIZE_LABEL] ?? 0)) return true;
    if (w.kind === TJ) return current.some((t) => phaseOf(t) === "Failed");
    return current.some(isTerminal);
  }

  /**
   * Scheduled=False with the reason (Unschedulable, ParticipantsLost, or an error: PlanFailed,
   * BindFailed) and a Warning Event (see notScheduledStatus). An error's Event and log line say
   * when it is tried again (`retryMs`); its condition carries the cause only, so a repeat of it
   * rewrites nothing. A TrainingJob that lost participants waits for them until its deadline, then
   * fails and its unfinished tasks are stopped.
   */
  private async markNotScheduled(w: Workload, failure: Failure, now: Date, retryMs?: number): Promise<number> {
    const { status, failure: told, terminal, lostDeadlineMs } = notScheduledStatus(w, failure, now);
    const uid = w.obj.metadata.uid;
    if (lostDeadlineMs !== undefined) this.lost.set(uid, lostDeadlineMs);
    else this.lost.forget(uid);
    const error = ERROR_REASONS.has(told.reason);
    const retry = retryMs !== undefined ? `; retrying in ${retryMs / 1000}s` : "";
    const ownReason = error || told.reason === "ParticipantsLost";
    this.events.add([{ involved: involved(w), type: "Warning", reason: ownReason ? told.reason : "FailedScheduling", message: `${told.message}${retry}` }], now);
    if (error) {
      this.deps.logger.warn({ workload: `${w.obj.metadata.namespace}/${w.obj.metadata.name}`, reason: told.reason, err: failure.cause ?? told.message, retryMs }, "workload not scheduled: its planning or bind failed; retrying after a backoff");
    }
    const writes = await this.writeStatus(w, status);
    if (terminal) {
      this.deps.logger.warn({ workload: `${w.obj.metadata.namespace}/${w.obj.metadata.name}`, reason: told.reason, err: told.message }, "training job failed: its participants were lost for longer than its deadline");
      // A failed job's remaining tasks stop (as a failed Kubernetes Job's pods do).
      await this.deleteTasks(w.tasks.filter((t) => !isTerminal(t)));
    }
    return writes;
  }

  /** Task phases → workload phase, conditions, endpoints; superseded tasks stop once replaced. */
  private async aggregate(w: Workload, now: Date): Promise<{ writes: number; deleted: number }> {
    if (!w.obj.status?.planRevision) return { writes: 0, deleted: 0 };
    const { status, superseded } = foldStatus(w.kind.kind as "InferenceService" | "TrainingJob", w.obj, w.tasks, now.toISOString());
    const deleted = superseded.length ? await this.deleteTasks(superseded) : 0;
    // A change of progress only (a message's task count) is written at most once per progress
    // period per workload: every task report would otherwise rewrite its owner. Held back, it is
    // folded again when due; phase and condition changes always go out at once.
    const nowMs = now.getTime();
    const last = this.lastFold.get(w.obj.metadata.uid);
    const period = this.options.progressMs ?? 1_000;
    if (last !== undefined && nowMs - last < period && progressOnly(w.obj.status ?? {}, status)) {
      this.deferred.set(w.obj.metadata.uid, last + period);
      return { writes: 0, deleted };
    }
    if (!sameJson(status, w.obj.status ?? {})) this.lastFold.set(w.obj.metadata.uid, nowMs);
    return { writes: await this.writeStatus(w, status), deleted };
  }

  private async writeStatus(w: Workload, status: Record<string, unknown>): Promise<number> {
    if (sameJson(status, w.obj.status ?? {})) return 0;
    if (this.statusBatch) {
      this.statusBatch.add(w.kind, w.obj, status);
      return 0; // counted when the batch is written
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

  private async deleteTasks(tasks: StoredObject[]): Promise<number> {
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

function involved(w: Workload) {
  return { kind: w.kind.kind, name: w.obj.metadata.name, namespace: w.obj.metadata.namespace!, uid: w.obj.metadata.uid };
}
