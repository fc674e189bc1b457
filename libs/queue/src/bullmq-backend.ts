import { Queue, UnrecoverableError, WaitingError, Worker, type BackendFactory, type IQueueBackend, type Job, type JobProgress, type JobsOptions, type KeepJobs } from "bullmq";
import type { ConsumeOptions, JobContext, QueueBackend, QueueConsumer, QueueDepth, RemoveTaskJobOptions, ScheduleHandler, TaskHandler, TaskJob } from "./backend.js";
import { nodeQueueName, SCHEDULE_QUEUE, taskJobId } from "./names.js";
import { InvalidPayloadError, parseScheduleItem, parseTaskJobPayload, scheduleItemKey, type ScheduleItem } from "./payloads.js";

/** Tuning shared by both backends. Every field is optional. */
export interface CommonQueueOptions {
  /**
   * How long finished dispatch jobs are kept. Re-enqueueing a kept job id is a no-op, so this is
   * the window in which dispatch is idempotent even after the task ran.
   * Memory grows with nodes × count: 5,000 nodes × 200 jobs × ~0.6 KB ≈ 600 MB at worst.
   * @defaultValue `{ age: 3600, count: 200 }` (seconds, jobs per node queue)
   */
  keepFinishedTasks?: { age: number; count: number };
  /**
   * Length of each queue's BullMQ event stream. Nothing in eiaas reads it (status goes through
   * the API); BullMQ's default of 10,000 per queue would cost gigabytes over thousands of node queues.
   * @defaultValue 100
   */
  eventStreamLength?: number;
  /**
   * How long a consumer's lock on an active job lasts without renewal (renewed every half of it).
   * A consumer that dies loses its jobs to the stalled check after about this long.
   * @defaultValue 30000
   */
  lockDurationMs?: number;
  /**
   * How often consumers look for stalled jobs (whose consumer died). Each consumer's first look
   * comes at a random point of the first interval, so the consumers of one process (a simulated
   * fleet: thousands of node queues) spread their looks instead of all running them at once.
   * @defaultValue 30000
   */
  stalledIntervalMs?: number;
  /**
   * Pause before a consumer retries after its connection failed.
   * @defaultValue 1000 (BullMQ's own default is 15 s, too slow for a Redis restart)
   */
  retryDelayMs?: number;
  /**
   * Bound on producer-side calls (enqueue, remove, depth). While the connection is down they fail
   * fast by themselves; this also covers a process that starts while the server is unreachable,
   * whose first call would otherwise wait for the connection. A call that timed out may still take
   * effect later, which is harmless: enqueueing is idempotent.
   * @defaultValue 10000
   */
  operationTimeoutMs?: number;
  /** Errors of shared connections (not of one job). Dropped when absent, never thrown. */
  onError?: (err: Error) => void;
}

/**
 * What a concrete backend plugs into {@link BullmqQueueBackend}: `B` is the backend class of its
 * producer Queues, `C` the value of BullMQ's `connection` option its factories take.
 */
export interface BullmqPlumbing<B extends IQueueBackend, C> {
  kind: "redis" | "postgres";
  /** Value passed as BullMQ's `connection` option; the factories below ignore or use it. */
  connection: C;
  /** Builds the backend of a producer-side Queue (sharing the process's producer connection). */
  producerFactory: BackendFactory<B, C>;
  /** Builds the backend of a Worker (sharing the consumer connection, bounded blocking). */
  workerFactory: BackendFactory<IQueueBackend, C>;
  /** Seconds an idle Worker waits for a wake-up before polling its queue once anyway. */
  idlePollSeconds: number;
  /**
   * Adds jobs spread over many queues in one round trip (a dispatch batch touches many node
   * queues; one `addBulk` per queue costs several times more). Resolves to the ids, in order;
   * adding an id that exists is a no-op.
   */
  addAcrossQueues(entries: ReadonlyArray<QueueEntry<B, C>>): Promise<string[]>;
  /** Called when the backend starts closing, before its consumers close (calls waiting to retry give up). */
  beginClose?(): void;
  /** Closes the shared connections after every Queue and Worker is closed. */
  closeConnections(): Promise<void>;
}

const SCHEDULE_JOB_OPTIONS: JobsOptions = {
  // Transient failures (a database hiccup) retry soon; the scheduler's periodic resync covers the rest.
  attempts: 5,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
};

const REMOVABLE_STATES = new Set<string>(["waiting", "wait", "delayed", "prioritized", "paused"]);

function noop(): void {}

// BullMQ's classes are generic over backend and connection types; ours vary per backend.
export type ProducerQueue<B extends IQueueBackend, C> = Queue<unknown, unknown, string, unknown, unknown, string, B, C>;
type ConsumerWorker<C> = Worker<unknown, void, string, IQueueBackend, JobProgress, C>;

/** One job to add, with the producer Queue of its queue. */
export interface QueueEntry<B extends IQueueBackend, C> {
  queue: ProducerQueue<B, C>;
  name: string;
  data: unknown;
  opts: JobsOptions;
}

/**
 * The {@link QueueBackend} over BullMQ Queue and Worker classes, common to Redis and Postgres.
 * Producer Queues are created per queue name on first use and kept; they share one connection.
 */
export class BullmqQueueBackend<B extends IQueueBackend, C> implements QueueBackend {
  readonly kind: "redis" | "postgres";
  private readonly queues = new Map<string, ProducerQueue<B, C>>();
  private readonly consumers = new Set<BullmqConsumer<B, C>>();
  private readonly keepFinished: KeepJobs;
  private readonly onError: (err: Error) => void;
  private closing?: Promise<void>;

  constructor(
    private readonly plumbing: BullmqPlumbing<B, C>,
    private readonly options: CommonQueueOptions,
  ) {
    this.kind = plumbing.kind;
    this.keepFinished = options.keepFinishedTasks ?? { age: 3600, count: 200 };
    this.onError = options.onError ?? noop;
  }

  private queue(name: string): ProducerQueue<B, C> {
    this.assertOpen();
    let q = this.queues.get(name);
    if (!q) {
      const created: ProducerQueue<B, C> = new Queue(
        name,
        { connection: this.plumbing.connection, streams: { events: { maxLen: this.options.eventStreamLength ?? 100 } } },
        this.plumbing.producerFactory,
      );
      created.on("error", (err: Error) => this.onError(err));
      this.queues.set(name, created);
      q = created;
    }
    return q;
  }

  /** Races a producer-side call against {@link CommonQueueOptions.operationTimeoutMs}. */
  private bounded<T>(what: string, call: Promise<T>): Promise<T> {
    const ms = this.options.operationTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: the ${this.kind} queue backend did not answer within ${ms} ms`)), ms);
    });
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  private assertOpen(): void {
    if (this.closing) throw new Error("queue backend is closed");
  }

  async enqueueTasks(jobs: readonly TaskJob[]): Promise<string[]> {
    const entries: QueueEntry<B, C>[] = [];
    for (const job of jobs) {
      // Validate on the way in too: a bad payload is the producer's bug and fails its call loudly.
      const payload = parseTaskJobPayload(job.payload);
      if (payload.spec.nodeName !== job.node) {
        throw new Error(`task ${payload.namespace}/${payload.name}: payload spec.nodeName ${payload.spec.nodeName} differs from target node ${job.node}`);
      }
      const jobId = taskJobId(payload.uid, payload.attempt);
      entries.push({
        queue: this.queue(nodeQueueName(job.node)),
        name: "task",
        data: payload,
        opts: { jobId, attempts: 1, removeOnComplete: this.keepFinished, removeOnFail: this.keepFinished },
      });
    }
    if (entries.length > 0) await this.bounded("enqueue tasks", this.plumbing.addAcrossQueues(entries));
    return entries.map((e) => e.opts.jobId as string);
  }

  async enqueueSchedule(items: readonly ScheduleItem[]): Promise<void> {
    if (items.length === 0) return;
    const jobs = items.map((raw) => {
      const item = parseScheduleItem(raw);
      return {
        name: "plan",
        data: item,
        opts: { ...SCHEDULE_JOB_OPTIONS, deduplication: { id: scheduleItemKey(item), keepLastIfActive: true } },
      };
    });
    await this.bounded("enqueue schedule items", this.queue(SCHEDULE_QUEUE).addBulk(jobs));
  }

  consumeNodeQueue(nodeName: string, handler: TaskHandler, options: ConsumeOptions = {}): QueueConsumer {
    const queue = nodeQueueName(nodeName);
    return this.consume(
      queue,
      options,
      (data, ctx) => {
        const payload = parseTaskJobPayload(data, ctx.jobId);
        if (payload.spec.nodeName !== nodeName) {
          throw new InvalidPayloadError(queue, ctx.jobId, [{ field: "spec.nodeName", message: `is ${payload.spec.nodeName}, not this queue's node ${nodeName}` }]);
        }
        return () => handler(payload, ctx);
      },
      this.keepFinished,
    );
  }

  consumeSchedule(handler: ScheduleHandler, options: ConsumeOptions = {}): QueueConsumer {
    return this.consume(
      SCHEDULE_QUEUE,
      options,
      (data, ctx) => {
        const item = parseScheduleItem(data, ctx.jobId);
        return () => handler(item, ctx);
      },
      { count: 1000 },
    );
  }

  private consume(queue: string, options: ConsumeOptions, prepare: (data: unknown, ctx: JobContext) => () => Promise<void>, keep: KeepJobs): QueueConsumer {
    this.assertOpen();
    const consumer: BullmqConsumer<B, C> = new BullmqConsumer<B, C>(queue, this.plumbing, this.options, options, prepare, keep, () => this.consumers.delete(consumer));
    this.consumers.add(consumer);
    return consumer;
  }

  async removeTaskJob(nodeName: string, jobId: string, options: RemoveTaskJobOptions = {}): Promise<boolean> {
    const q = this.queue(nodeQueueName(nodeName));
    return this.bounded(
      "remove task job",
      (async () => {
        // BullMQ's remove also answers 1 for an absent job and removes finished ones; look first.
        const state = await q.getJobState(jobId);
        if (!REMOVABLE_STATES.has(state) && !(options.abandoned && state === "active")) return false;
        // BullMQ removes no job whose lock is held: 0 when a consumer holds (or took) it.
        return (await q.remove(jobId)) === 1;
      })(),
    );
  }

  async depth(queueName: string): Promise<QueueDepth> {
    const c = await this.bounded("queue depth", this.queue(queueName).getJobCounts("waiting", "active", "delayed", "prioritized", "completed", "failed"));
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      prioritized: c.prioritized ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  close(options: { force?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      this.plumbing.beginClose?.();
      await Promise.allSettled([...this.consumers].map((c) => c.close(options)));
      await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
      this.queues.clear();
      await this.plumbing.closeConnections();
    })();
    return this.closing;
  }
}

class BullmqConsumer<B extends IQueueBackend, C> implements QueueConsumer {
  private readonly worker: ConsumerWorker<C>;
  private readonly active = new Set<string>();
  private closing?: Promise<void>;
  /** Closed with `force`: the jobs it cancelled go back to the queue, however their run ended. */
  private handingBack = false;
  private stalledStart?: NodeJS.Timeout;

  constructor(
    readonly queue: string,
    plumbing: BullmqPlumbing<B, C>,
    common: CommonQueueOptions,
    options: ConsumeOptions,
    prepare: (data: unknown, ctx: JobContext) => () => Promise<void>,
    keep: KeepJobs,
    private readonly onClosed: () => void,
  ) {
    const onError = options.onError ?? noop;
    const onInvalid = options.onInvalidPayload ?? ((err: Error) => onError(err));
    // Three declared parameters: BullMQ passes the abort signal only to processors that take one.
    const processor = async (job: Job<unknown, void>, _token?: string, signal?: AbortSignal): Promise<void> => {
      const jobId = job.id ?? "";
      const ctx: JobContext = {
        jobId,
        queue,
        attemptsStarted: Math.max(0, (job.attemptsStarted ?? 1) - 1),
        signal: signal ?? new AbortController().signal,
      };
      let run: () => Promise<void>;
      try {
        run = prepare(job.data, ctx);
      } catch (err) {
        onInvalid(err as Error, jobId);
        // Unrecoverable: a malformed payload stays malformed, retrying it is pointless.
        throw new UnrecoverableError((err as Error).message);
      }
      this.active.add(jobId);
      try {
        await run();
      } catch (err) {
        if (!(this.handingBack && signal?.aborted)) throw err;
      } finally {
        this.active.delete(jobId);
      }
      // A job cancelled by a forced close, however its run ended: BullMQ would complete or fail it
      // if that reached Redis before the connection closed (the backends share their connections,
      // so BullMQ's own "closing" check never holds). For a Worker that is closing, WaitingError
      // means "leave the job as it is": active, until its lock runs out and the stalled check
      // hands it to the next consumer.
      if (this.handingBack && signal?.aborted) throw new WaitingError();
    };
    this.worker = new Worker(
      queue,
      processor,
      {
        connection: plumbing.connection,
        concurrency: options.concurrency ?? 1,
        drainDelay: plumbing.idlePollSeconds,
        lockDuration: common.lockDurationMs ?? 30_000,
        stalledInterval: common.stalledIntervalMs ?? 30_000,
        // Started below, after a random part of the interval: BullMQ runs the first check when the
        // worker starts, so 5,000 consumers started together ran 5,000 stalled-job scripts in one
        // burst every interval (a latency spike for the tasks in flight in bench:dispatch).
        skipStalledCheck: true,
        runRetryDelay: common.retryDelayMs ?? 1000,
        maxStalledCount: 1,
        removeOnComplete: keep,
        removeOnFail: keep,
      },
      plumbing.workerFactory,
    );
    this.worker.on("error", (err: Error) => onError(err));
    this.stalledStart = setTimeout(
      () => {
        this.worker.opts.skipStalledCheck = false;
        void this.worker.startStalledCheckTimer();
      },
      Math.random() * (common.stalledIntervalMs ?? 30_000),
    );
    this.stalledStart.unref();
  }

  waitUntilReady(): Promise<void> {
    return this.worker.waitUntilReady();
  }

  cancel(jobId: string, reason?: string): boolean {
    return this.worker.cancelJob(jobId, reason);
  }

  activeJobIds(): string[] {
    return [...this.active];
  }

  close(options: { force?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.stalledStart);
      try {
        if (options.force) {
          this.handingBack = true;
          this.worker.cancelAllJobs("consumer closed");
        }
        await this.worker.close(options.force ?? false);
      } finally {
        this.onClosed();
      }
    })();
    return this.closing;
  }
}
