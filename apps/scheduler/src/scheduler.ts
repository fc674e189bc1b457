import { analyzeGrowingTables, EventRecorder, type ObjectStore } from "@eiaas/db";
import type { LeaseStore, QueueBackend } from "@eiaas/queue";
import type { Logger } from "@eiaas/telemetry";
import type pg from "pg";
import { Dispatcher } from "./dispatcher.js";
import { GarbageCollector } from "./garbage-collector.js";
import { LeaderElector } from "./leader.js";
import { NodeLifecycleController, type NodeLifecycleOptions } from "./node-lifecycle.js";
import { WorkloadController } from "./workloads.js";
import { bindClusterMetrics } from "./cluster-metrics.js";
import { boundTasks, cycleDuration, leader, schedulingAttempts } from "./metrics.js";
import { beginCycle, plannedInCycle } from "./plan-telemetry.js";
import { secondsSince } from "@eiaas/telemetry";

export interface SchedulerOptions extends NodeLifecycleOptions {
  /**
   * Longest time between two cycles (each reads the watch log after its cursor, not every row: a
   * full re-list happens only at start, after an error or a compaction past the cursor); also the
   * node lifecycle pass's period. Default 2000 ms.
   */
  resyncMs?: number;
  /** Re-enqueue Dispatched tasks this often (rebuilds queues Redis lost). Default 10 000 ms. */
  repairMs?: number;
  /** Periodic full re-list of the cluster cache, on top of the ones it needs. Default: none (see ClusterCacheOptions.relistMs). */
  relistMs?: number;
  /** Wake on every committed change (Postgres LISTEN on the watch channel). Default true. */
  listen?: boolean;
  /**
   * Shortest time between the starts of two cycles: wake-ups closer together are served by one
   * cycle (each committed change notifies; a cycle per notification would spend the CPU on fixed
   * costs). Default 25 ms.
   */
  minCycleIntervalMs?: number;
  /**
   * How often the leader ANALYZEs the tables that doubled since their last ANALYZE (young tables,
   * whose cached statement plans were made when they were tiny; see analyzeGrowingTables), in the
   * background of the cycles. 0 turns it off. Default 1000 ms.
   */
  analyzeMs?: number;
  /**
   * Priority cap of tenants without spec.maxPriority (EIAAS_DEFAULT_MAX_PRIORITY, the API server's
   * admission default): what higher a workload stored before the cap asks for counts as the cap,
   * in queue order, in its tasks and in preemption. Default 0.
   */
  defaultMaxPriority?: number;
  /**
   * How often the garbage collector checks every cached task, on top of the owners each cycle saw
   * go (see GarbageCollector). Default 60 000 ms.
   */
  gcFullPassMs?: number;
}

export interface SchedulerDeps {
  databaseUrl: string;
  pool: pg.Pool;
  store: ObjectStore;
  queue: QueueBackend;
  leases: LeaseStore;
  logger: Logger;
}

/**
 * The scheduler process's loop: wait for leadership, then run cycles — on every committed change
 * (LISTEN on the watch channel), on every `schedule` queue item (a hint: the API enqueues on
 * writes) and at least every resync period. Wake-ups that arrive during a cycle fold into one next
 * cycle. A cycle reads what changed from the watch log into the workload controller's cache, plans
 * and binds, dispatches, and (once per resync period) runs the node lifecycle pass. Errors
 * (Postgres or Redis away for a while) skip the cycle; the next one re-lists from Postgres.
 */
export class Scheduler {
  readonly workloads: WorkloadController;
  readonly dispatcher: Dispatcher;
  readonly lifecycle: NodeLifecycleController;
  readonly gc: GarbageCollector;
  private readonly leader: LeaderElector;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private lastRepair = 0;
  private lastLifecycle = Number.NEGATIVE_INFINITY;
  private lastCycleStart = 0;
  private lastAnalyze = 0;
  private analyzing?: Promise<void>;
  private consumer?: { close(o?: { force?: boolean }): Promise<void> };
  private unbindMetrics?: () => void;
  /** Outcome of the last cycle, for /metrics and tests. */
  lastError?: Error;
  cycles = 0;

  constructor(
    private readonly deps: SchedulerDeps,
    private readonly options: SchedulerOptions = {},
  ) {
    const events = new EventRecorder(deps.store, "scheduler");
    this.dispatcher = new Dispatcher({ pool: deps.pool, queue: deps.queue, logger: deps.logger });
    this.workloads = new WorkloadController(
      { pool: deps.pool, store: deps.store, events, logger: deps.logger, dispatch: (tasks) => this.dispatcher.enqueueBound(tasks) },
      { ...(options.relistMs !== undefined ? { relistMs: options.relistMs } : {}), ...(options.defaultMaxPriority !== undefined ? { defaultMaxPriority: options.defaultMaxPriority } : {}) },
    );
    this.gc = new GarbageCollector({ pool: deps.pool, store: deps.store, logger: deps.logger, queue: deps.queue }, options.gcFullPassMs !== undefined ? { fullPassMs: options.gcFullPassMs } : {});
    this.lifecycle = new NodeLifecycleController({ pool: deps.pool, store: deps.store, leases: deps.leases, events, logger: deps.logger, queue: deps.queue }, options);
    this.leader = new LeaderElector(deps.databaseUrl, () => deps.logger.warn("lost leadership"));
  }

  get isLeader(): boolean {
    return this.leader.isLeader;
  }

  start(): void {
    this.unbindMetrics = bindClusterMetrics({ pool: this.deps.pool, queue: this.deps.queue });
    this.timer = setInterval(() => void this.kick(), this.options.resyncMs ?? 2_000);
    this.consumer = this.deps.queue.consumeSchedule(async () => void this.kick(), {
      concurrency: 1,
      onError: (err) => this.deps.logger.debug({ err }, "schedule queue"),
    });
    if (this.options.listen ?? true) {
      // The cluster cache's informer LISTENs; a notification only wakes a cycle, which reads the log.
      this.workloads.cache.listen(
        this.deps.databaseUrl,
        () => void this.kick(),
        (err) => this.deps.logger.debug({ err }, "change listener"),
      );
    }
    void this.kick();
  }

  /** Runs a cycle now, or right after the running one. */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        const wait = this.lastCycleStart + (this.options.minCycleIntervalMs ?? 25) - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        this.again = false;
        this.lastCycleStart = Date.now();
        await this.runOnce();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async runOnce(now = new Date()): Promise<void> {
    if (this.stopped) return;
    let start: bigint | undefined;
    try {
      const acting = await this.leader.tryAcquire();
      leader.set(acting ? 1 : 0);
      if (!acting) return;
      start = process.hrtime.bigint();
      beginCycle(this.workloads);
      const stats = await this.workloads.cycle(now);
      schedulingAttempts.inc({ result: "scheduled" }, stats.planned - stats.unschedulable - stats.failed);
      schedulingAttempts.inc({ result: "unschedulable" }, stats.unschedulable);
      schedulingAttempts.inc({ result: "error" }, stats.failed);
      boundTasks.inc(stats.bound);
      // Counted: a later failure of this cycle (dispatch, lifecycle) does not make them errors.
      beginCycle(this.workloads);
      // From the cache the cycle just brought up to date; nothing to do (no Postgres read) unless
      // it shows tasks whose owner is gone, or a full pass is due.
      await this.gc.collect(this.workloads.cache, now.getTime()).catch((err: Error) => {
        this.deps.logger.warn({ err }, "garbage collection failed; the next cycle retries");
      });
      if (now.getTime() - this.lastRepair >= (this.options.repairMs ?? 10_000)) {
        this.lastRepair = now.getTime();
        // Each picks its phase out of the cache the cycle just brought up to date.
        const tasks = [...this.workloads.cache.tasks.values()];
        await this.dispatcher.dispatchScheduled(tasks);
        await this.dispatcher.repair(tasks);
      }
      // Lease ages move with the clock, not with changes: once per resync period is enough.
      if (now.getTime() - this.lastLifecycle >= (this.options.resyncMs ?? 2_000)) {
        this.lastLifecycle = now.getTime();
        // From the cache the cycle just brought up to date: no list of every node each period.
        await this.lifecycle.pass(now, [...this.workloads.cache.nodes.values()]);
      }
      const analyzeMs = this.options.analyzeMs ?? 1_000;
      if (analyzeMs > 0 && !this.analyzing && now.getTime() - this.lastAnalyze >= analyzeMs) {
        this.lastAnalyze = now.getTime();
        this.analyzing = analyzeGrowingTables(this.deps.pool)
          .then(
            (tables) => void (tables.length && this.deps.logger.debug({ tables }, "analyzed growing tables")),
            (err: Error) => this.deps.logger.debug({ err }, "analyzing growing tables failed; next period retries"),
          )
          .finally(() => (this.analyzing = undefined));
      }
      // Bound and committed; the repair pass enqueues what did not make it to Redis.
      if (stats.dispatchError) throw stats.dispatchError;
      this.cycles++;
      this.lastError = undefined;
      cycleDuration.observe({ result: "ok" }, secondsSince(start));
    } catch (err) {
      schedulingAttempts.inc({ result: "error" }, plannedInCycle(this.workloads));
      if (start !== undefined) cycleDuration.observe({ result: "error" }, secondsSince(start));
      this.lastError = err as Error;
      this.deps.logger.warn({ err }, "scheduling cycle failed; retrying on the next one");
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.workloads.cache.stopListening();
    await this.consumer?.close({ force: true }).catch(() => undefined);
    await this.running;
    await this.analyzing;
    await this.workloads.usageWritten();
    await this.workloads.events.drain();
    await this.leader.release();
    leader.set(0);
    this.unbindMetrics?.();
  }
}
