import { kindInfo } from "@eiaas/api";
import { ClusterCache, type BindOutcome, type CacheDelta, type EventInput, type EventRecorder, type ObjectStore, type StoredObject } from "@eiaas/db";
import { orderQueue, taskInit, type Snapshot } from "@eiaas/scheduling";
import type { Logger } from "@eiaas/telemetry";
import type pg from "pg";
import { PLAN_SIZE_LABEL } from "./task-factory.js";
import { UsagePublisher, writeUsage } from "./usage-status.js";
import { preemptFor } from "./preemption.js";
import { LiveSnapshot } from "./live-snapshot.js";
import { EventBuffer } from "./event-buffer.js";
import { BindPipeline } from "./bind-pipeline.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { ERROR_REASONS, planWorkload, type Decision, type Failure, type Workload } from "./plan-workload.js";
import { linkFingerprint, servicesToReplan } from "./relink.js";
import { servicesOffPrediction } from "./measured-drift.js";
import { DEFAULT_MEASUREMENT_MAX_AGE_MS, MeasurementIndex } from "./measured.js";
import { isTerminal, phaseOf, splitByRevision } from "./workload-status.js";
import { notScheduledStatus } from "./not-scheduled.js";
import { LostDeadlines } from "./participants-lost.js";
import { CycleView, emptyStats, type CycleStats } from "./cycle-view.js";
import { WorkloadStatusWriter } from "./status-writer.js";
import { specified } from "./specified.js";

export type { CycleStats } from "./cycle-view.js";

const ISVC = kindInfo("InferenceService");
const TJ = kindInfo("TrainingJob");

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
 * full re-list at start and after errors: level-triggered), then:
 * - plan: the workloads that need a plan (new, spec changed, a task failed) in queue order
 *   (priority, then weighted dominant share) — the changed ones, or all waiting ones when room may
 *   have appeared;
 * - bind, beside planning (bind-pipeline.ts: a transaction per chunk of ~1,000 tasks, the plans
 *   written into the owners' status in the same statement), and settle what each bind came to
 *   (Events, backoff, preemption for what lacked room alone);
 * - fold: the changed workloads' task phases into their status, stopping superseded tasks once
 *   their replacements run (roll-over without a gap);
 * - publish: a step of node allocation and tenant usage, behind the cycle.
 * A quiet cycle costs one indexed read.
 */
export class WorkloadController {
  /** The fleet's links as of the last re-plan check (Edgent's dynamic mode). */
  private linkFingerprint = "";
  private lastUsage = Number.NEGATIVE_INFINITY;
  private readonly usage: UsagePublisher;
  /** The usage step being written, if any. */
  private publishing: Promise<void> | undefined;
  readonly cache: ClusterCache;
  /** The scheduling snapshot, kept up to date from the cache's deltas. */
  private readonly live: LiveSnapshot;
  /** Events go out behind the loop. */
  readonly events: EventBuffer;
  /** Writes workload status: folds batched, progress held back. */
  private readonly status: WorkloadStatusWriter;
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
    this.status = new WorkloadStatusWriter(deps, options.progressMs ?? 1_000);
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

  /** One cycle: sync, plan beside binding, settle, fold, publish (see the class comment). */
  private async runCycle(now: Date): Promise<CycleStats> {
    const delta = await this.cache.sync(now.getTime());
    this.forgetGone(delta);
    const view = new CycleView(this.cache, delta);
    const stats = emptyStats(delta.relisted);
    const snapshot = this.live.update(this.cache, delta);
    snapshot.setMeasurements(this.measurements.current(this.cache, delta.relisted || delta.profilesChanged, now.getTime()));
    // Everything this cycle reserves is tentative: rolled back at the end, the bound part comes
    // back through the log as tasks.
    const base = snapshot.mark();
    const binds = new BindPipeline(this.deps.pool, {
      ...(this.deps.dispatch ? { dispatch: this.deps.dispatch } : {}),
      ...(this.options.bindChunkTasks ? { chunkTasks: this.options.bindChunkTasks } : {}),
    });
    let decisions: Decision[];
    let outcomes: BindOutcome[];
    try {
      decisions = await this.plan(view, snapshot, binds, stats, now);
      outcomes = await binds.finish();
      await this.settle(decisions, outcomes, snapshot, stats, now);
    } finally {
      snapshot.rollback(base);
    }
    await this.fold(view, decisions, outcomes, stats, now);
    this.publish(snapshot, now);
    const dispatchError = await binds.dispatched();
    if (dispatchError !== undefined) stats.dispatchError = dispatchError as Error;
    return stats;
  }

  /** After a re-list or a delete: what the controller remembers of workloads that are gone. */
  private forgetGone(delta: CacheDelta): void {
    for (const uid of delta.relisted ? [...this.status.uids(), ...this.backoff.uids(), ...this.lost.uids()] : delta.workloads) {
      if (this.cache.workloads.has(uid)) continue;
      this.status.forget(uid);
      this.backoff.forget(uid);
      this.lost.forget(uid);
    }
  }

  /**
   * Plans the workloads that need a plan in queue order, each reserving its tasks for the ones after
   * it, and hands each plan to the bind pipeline as it is made (binding runs beside planning).
   */
  private async plan(view: CycleView, snapshot: Snapshot, binds: BindPipeline, stats: CycleStats, now: Date): Promise<Decision[]> {
    const decisions: Decision[] = [];
    let sinceYield = 0;
    for (const w of this.queue(view, snapshot, now.getTime())) {
      stats.planned++;
      // Planning is CPU, binding is Postgres: while a chunk is being bound, let its round trips
      // advance every few plans instead of after the whole queue.
      if (++sinceYield >= 8 && binds.busy) {
        sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const d = this.planOne(w, view, snapshot, now);
      if (d.group) binds.add(d.group);
      decisions.push(d);
    }
    return decisions;
  }

  /** Plans one workload; one with tasks already placed plans as if they were gone. */
  private planOne(w: Workload, view: CycleView, snapshot: Snapshot, now: Date): Decision {
    const own = w.tasks.flatMap((t) => {
      const placed = isTerminal(t) ? undefined : this.live.placedTask(t.metadata.uid);
      return placed ? [placed] : [];
    });
    if (!own.length) return planWorkload(this, w, snapshot, view.modelOf(w), now, this.deps.store, this.maxAgeMs);
    // Their resources come back to it; the binder still counts them until they stop, so a
    // roll-over needs room for both: the new plan is reserved on top of the old tasks for the
    // workloads after it.
    const m = snapshot.mark();
    for (const t of own) snapshot.release(t);
    const d = planWorkload(this, w, snapshot, view.modelOf(w), now, this.deps.store, this.maxAgeMs);
    snapshot.rollback(m);
    for (const t of d.group?.tasks ?? []) snapshot.reserve(taskInit(specified(t)));
    return d;
  }

  /**
   * The workloads to plan this cycle, in queue order (priority, weighted dominant share, age). A
   * waiting workload is tried again only when it changed or room may have appeared; one whose
   * planning or bind failed, when its backoff is over (or its spec changed), not before; a job
   * waiting for lost participants also when its deadline is up (to fail, or be placed); a running
   * service when its links or its clients' measurements call for a re-plan.
   */
  private queue(view: CycleView, snapshot: Snapshot, nowMs: number): Workload[] {
    const delta = view.delta;
    const relink = this.servicesToRelink(view, snapshot, nowMs);
    const retry = this.backoff.size || this.lost.size ? new Set([...this.backoff.due(nowMs), ...this.lost.due(nowMs)]) : undefined;
    const looked = delta.relisted || delta.roomChanged || relink.size ? view.all() : view.byUid(retry ? new Set([...delta.workloads, ...retry]) : delta.workloads);
    const candidates = looked.filter((w) => {
      const uid = w.obj.metadata.uid;
      if (this.backoff.size && this.backoff.waiting(uid, w.obj.metadata.generation, nowMs)) return false;
      return ((view.changed(w) || delta.roomChanged || retry?.has(uid)) && this.needsPlan(w)) || relink.has(uid);
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
    return orderQueue(
      snapshot,
      candidates.map((w) => ({
        w,
        namespace: w.obj.metadata.namespace!,
        name: w.obj.metadata.name,
        kind: w.kind.kind,
        priority: w.obj.spec.priority ?? 0,
        createdAt: w.obj.metadata.creationTimestamp,
      })),
    ).map((item) => item.w);
  }

  /**
   * Running services to re-plan though nothing of theirs changed (Edgent's dynamic mode): links
   * changed so a plan misses its SLO or a fresh one is much faster, or clients measured their plan
   * far off its prediction.
   */
  private servicesToRelink(view: CycleView, snapshot: Snapshot, nowMs: number): Set<string> {
    const { cache, delta } = view;
    let relink = new Set<string>();
    if (delta.linksChanged) {
      const fingerprint = linkFingerprint(cache.nodes.values());
      if (fingerprint !== this.linkFingerprint) {
        const running = view.all().filter((w) => w.kind === ISVC && w.obj.status?.phase === "Running" && w.obj.status?.plan?.clients?.length);
        relink = servicesToReplan(running, cache.models, snapshot, (uid) => this.live.placedTask(uid), this.deps.logger);
      }
      this.linkFingerprint = fingerprint;
    }
    // Clients that measured their plan far off its prediction (their reports change the service).
    const reported = view
      .byUid(delta.relisted ? cache.workloads.keys() : delta.workloads)
      .filter((w) => w.kind === ISVC && w.obj.status?.phase === "Running" && w.obj.status?.measured?.length && !relink.has(w.obj.metadata.uid));
    if (reported.length) {
      const drifted = servicesOffPrediction(reported, cache.models, snapshot, (uid) => this.live.placedTask(uid), this.deps.logger, {
        nowMs,
        maxAgeMs: this.maxAgeMs,
        ...(this.options.driftFraction !== undefined ? { fraction: this.options.driftFraction } : {}),
      });
      for (const uid of drifted) relink.add(uid);
    }
    return relink;
  }

  /** Folds task phases into the changed workloads' status, but for those whose bind just wrote it. */
  private async fold(view: CycleView, decisions: readonly Decision[], outcomes: readonly BindOutcome[], stats: CycleStats, now: Date): Promise<void> {
    const bound = new Set(outcomes.flatMap((o) => (o.bound ? [o.id] : [])));
    const fresh = new Set(decisions.filter((d) => d.group && bound.has(d.group.id)).map((d) => d.w.obj.metadata.uid));
    await this.status.fold(view, fresh, stats, now);
  }

  /**
   * Node allocation and tenant usage (display figures), a bounded step at a time, written behind
   * the cycles: the next cycles plan and bind meanwhile; one step at a time.
   */
  private publish(snapshot: Snapshot, now: Date): void {
    if (now.getTime() - this.lastUsage < (this.options.usageMs ?? 1_000) || this.publishing) return;
    this.lastUsage = now.getTime();
    this.publishing = writeUsage(this.deps.pool, this.usage.next(this.cache, snapshot))
      .then(
        () => undefined,
        (err: Error) => this.deps.logger.warn({ err }, "publishing node allocation and tenant usage failed; next pass retries"),
      )
      .finally(() => (this.publishing = undefined));
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
        scheduled.push({
          involved: involved(d.w),
          type: "Normal",
          reason: "Scheduled",
          message: d.group!.owner!.object.status.conditions.find((c: any) => c.type === "Scheduled")?.message ?? "scheduled",
        });
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
      this.deps.logger.warn(
        { workload: `${w.obj.metadata.namespace}/${w.obj.metadata.name}`, reason: told.reason, err: failure.cause ?? told.message, retryMs },
        "workload not scheduled: its planning or bind failed; retrying after a backoff",
      );
    }
    const writes = await this.status.write(w, status);
    if (terminal) {
      this.deps.logger.warn(
        { workload: `${w.obj.metadata.namespace}/${w.obj.metadata.name}`, reason: told.reason, err: told.message },
        "training job failed: its participants were lost for longer than its deadline",
      );
      // A failed job's remaining tasks stop (as a failed Kubernetes Job's pods do).
      await this.status.deleteTasks(w.tasks.filter((t) => !isTerminal(t)));
    }
    return writes;
  }
}

function involved(w: Workload) {
  return { kind: w.kind.kind, name: w.obj.metadata.name, namespace: w.obj.metadata.namespace!, uid: w.obj.metadata.uid };
}
