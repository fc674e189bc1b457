import type { ScheduleItem, TaskJobPayload, TaskJobPayloadInput } from "./payloads.js";

/** One dispatch: a task attempt for a node's queue. The job id is `<payload.uid>.<payload.attempt>`. */
export interface TaskJob {
  node: string;
  payload: TaskJobPayloadInput;
}

/** What a consumer's handler learns besides the payload. */
export interface JobContext {
  /** The queue job id (`<taskUid>.<attempt>` on node queues). */
  jobId: string;
  queue: string;
  /** How many times this job was started before (> 0 after a stalled consumer lost it). */
  attemptsStarted: number;
  /** Aborted when the job is cancelled through {@link QueueConsumer.cancel} or a forced close. */
  signal: AbortSignal;
}

/**
 * Processes one task job. The job stays active (and counts against the consumer's concurrency)
 * until the returned promise settles: resolve → completed, reject → failed (not retried: a retry
 * is a new attempt with a new job id, decided by the control plane).
 */
export type TaskHandler = (payload: TaskJobPayload, ctx: JobContext) => Promise<void>;
export type ScheduleHandler = (item: ScheduleItem, ctx: JobContext) => Promise<void>;

export interface ConsumeOptions {
  /** Jobs processed at once (the agent's `--slots`). @defaultValue 1 */
  concurrency?: number;
  /**
   * Called with errors that do not belong to one job: lost connections, failed lock renewals, a
   * failing handler's error is NOT reported here (the job fails with it). Without it errors are
   * dropped, never thrown.
   */
  onError?: (err: Error) => void;
  /**
   * Called when a job's payload is malformed; the job is failed (not retried) with the validation
   * message and the handler is not called. Defaults to `onError`.
   */
  onInvalidPayload?: (err: Error, jobId: string) => void;
}

export interface QueueConsumer {
  readonly queue: string;
  /** Resolves once the consumer's connection is ready (it keeps retrying until then). */
  waitUntilReady(): Promise<void>;
  /** Aborts the signal of an active job of this consumer; false if it runs no such job. */
  cancel(jobId: string, reason?: string): boolean;
  /** Ids of the jobs this consumer is processing. */
  activeJobIds(): string[];
  /**
   * Stops fetching and waits for active jobs to settle. With `force`, aborts their signals and
   * returns at once: their jobs stay active in the queue until their locks expire, when they are
   * moved back to wait (a restarted consumer gets them again).
   */
  close(options?: { force?: boolean }): Promise<void>;
}

export interface RemoveTaskJobOptions {
  /** Also remove the job when it is active but no consumer holds its lock any more. @defaultValue false */
  abandoned?: boolean;
}

/** Job counts of one queue (for metrics). */
export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  completed: number;
  failed: number;
}

/**
 * The transport between control plane and agents (design.md §1): BullMQ on Redis, or BullMQ on its
 * Postgres backend in the embedded default. Postgres stays the source of truth; a lost or
 * duplicated message here can delay work, never lose or double it.
 */
export interface QueueBackend {
  readonly kind: "redis" | "postgres";
  /**
   * Adds dispatch jobs, grouped per node queue with one `addBulk` each. Idempotent: a job whose id
   * (`<taskUid>.<attempt>`) is already in the queue (waiting, active, or retained after it
   * finished) is not added again. Rejects when the transport is unavailable — retry later; the
   * caller's repair loop re-derives what to dispatch from Postgres. Resolves to the job ids.
   */
  enqueueTasks(jobs: readonly TaskJob[]): Promise<string[]>;
  /**
   * Adds schedule work items. Items for a workload that already waits are coalesced into one;
   * an item for a workload being processed runs once more after it (never in parallel).
   */
  enqueueSchedule(items: readonly ScheduleItem[]): Promise<void>;
  /** Consumes `node.<nodeName>`. Payloads are validated before the handler sees them. */
  consumeNodeQueue(nodeName: string, handler: TaskHandler, options?: ConsumeOptions): QueueConsumer;
  consumeSchedule(handler: ScheduleHandler, options?: ConsumeOptions): QueueConsumer;
  /**
   * Removes a waiting or delayed dispatch job (a task deleted or rebound before its agent took it).
   * Returns false when there is no such job or it is active (locked by a consumer: its agent
   * finishes it). With `abandoned`, also an active job whose consumer's lock has lapsed — its agent
   * stopped renewing it (dead, paused, cut off): left alone, the stalled check would hand it back
   * to the queue, and a returning agent would start the failed task again.
   */
  removeTaskJob(nodeName: string, jobId: string, options?: RemoveTaskJobOptions): Promise<boolean>;
  /** Job counts of a queue (`schedule` or `node.<name>`). */
  depth(queueName: string): Promise<QueueDepth>;
  /** Closes every consumer (waiting for their active jobs), then the connections. */
  close(options?: { force?: boolean }): Promise<void>;
}
