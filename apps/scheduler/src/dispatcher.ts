import { kindInfo } from "@eiaas/api";
import { bulkUpdateStatus, type StoredObject } from "@eiaas/db";
import { nodeQueueName, type QueueBackend, type TaskJob } from "@eiaas/queue";
import { contextFromAnnotations, recordError, SpanKind, startSpanContext, traceCarrier, TRACEPARENT_ANNOTATION, type Logger, type TraceCarrier } from "@eiaas/telemetry";
import { dispatchedTasks } from "./metrics.js";
import type pg from "pg";

const TASK = kindInfo("Task");
const BATCH = 5000;

/**
 * The job a task attempt becomes on its node's queue (job id `<uid>.<attempt>`): the task's spec
 * as stored, and who it is. Its trace context is the dispatch span's when given, else the task's
 * own (its plan's), so a re-enqueued job (repair) still joins the task's trace.
 */
export function taskJob(t: StoredObject, trace?: TraceCarrier): TaskJob {
  const traceparent = t.metadata.annotations?.[TRACEPARENT_ANNOTATION];
  const owner = t.metadata.ownerReferences?.find((o) => o.controller);
  return {
    node: t.spec.nodeName,
    payload: {
      namespace: t.metadata.namespace!,
      name: t.metadata.name,
      uid: t.metadata.uid,
      attempt: t.status?.attempt ?? 1,
      spec: t.spec,
      ...(owner ? { owner: { kind: owner.kind, name: owner.name, uid: owner.uid } } : {}),
      traceContext: trace ?? (traceparent ? { traceparent } : {}),
    },
  };
}

/**
 * One PRODUCER span per task (child of its plan, from the task's annotation) around the batched
 * enqueue; their contexts travel in the jobs' `traceContext`, where the agent picks them up.
 */
async function enqueueTraced(queue: QueueBackend, tasks: StoredObject[]): Promise<void> {
  const spans = tasks.map((t) =>
    startSpanContext(`publish ${nodeQueueName(t.spec.nodeName)}`, {
      kind: SpanKind.PRODUCER,
      parent: contextFromAnnotations(t.metadata.annotations),
      attributes: {
        "messaging.system": "bullmq",
        "messaging.destination.name": nodeQueueName(t.spec.nodeName),
        "messaging.message.id": `${t.metadata.uid}.${t.status?.attempt ?? 1}`,
        "eiaas.task": `${t.metadata.namespace}/${t.metadata.name}`,
      },
    }),
  );
  try {
    await queue.enqueueTasks(tasks.map((t, i) => taskJob(t, spans[i] ? traceCarrier(spans[i]!.ctx) : undefined)));
  } catch (err) {
    for (const s of spans) if (s) recordError(s.span, err);
    throw err;
  } finally {
    for (const s of spans) s?.span.end();
  }
}

/**
 * Puts bound tasks on their nodes' queues. The binder commits a plan's tasks already Dispatched, so
 * `enqueueBound` is one batched enqueue with no second write per task; the commit comes first, so
 * an agent never sees a job whose task is not in Postgres yet. Level-triggered: `repair` re-enqueues
 * every Dispatched task with the same job id (`<uid>.<attempt>`), a no-op while the job exists, the
 * rebuild after Redis lost it or after the scheduler died between commit and enqueue.
 * `dispatchScheduled` moves tasks some other writer left Scheduled. Both take the tasks from the
 * scheduler's cluster cache: a scan of the tasks table for a phase every period grew with the
 * tasks, and an index on phase would make every status report a non-HOT update.
 */
export class Dispatcher {
  constructor(private readonly deps: { pool: pg.Pool; queue: QueueBackend; logger: Logger }) {}

  /** Enqueues tasks the binder just committed as Dispatched. */
  async enqueueBound(tasks: readonly StoredObject[]): Promise<number> {
    if (tasks.length === 0) return 0;
    await enqueueTraced(this.deps.queue, [...tasks]);
    dispatchedTasks.inc(tasks.length);
    return tasks.length;
  }

  /**
   * Enqueues and marks Dispatched those of `tasks` some other writer left Scheduled (the caller's
   * cluster cache: the same rows as Postgres at its last sync), oldest first, BATCH at a time.
   */
  async dispatchScheduled(all: readonly StoredObject[]): Promise<number> {
    const tasks = oldestFirst(all.filter((t) => t.status?.phase === "Scheduled" && t.spec.nodeName));
    if (tasks.length === 0) return 0;
    await enqueueTraced(this.deps.queue, tasks);
    const written = await bulkUpdateStatus(
      this.deps.pool,
      TASK,
      tasks.map((t) => ({ object: t, status: { ...t.status, phase: "Dispatched" } })),
    );
    dispatchedTasks.inc(written.length);
    return written.length;
  }

  /** Re-enqueues those of `tasks` that are Dispatched under their job ids (a no-op for jobs still queued). */
  async repair(all: readonly StoredObject[]): Promise<number> {
    const tasks = oldestFirst(all.filter((t) => t.status?.phase === "Dispatched"));
    if (tasks.length === 0) return 0;
    await this.deps.queue.enqueueTasks(tasks.map((t) => taskJob(t)));
    return tasks.length;
  }
}

function oldestFirst(tasks: StoredObject[]): StoredObject[] {
  return tasks.sort((a, b) => (a.metadata.creationTimestamp < b.metadata.creationTimestamp ? -1 : a.metadata.creationTimestamp > b.metadata.creationTimestamp ? 1 : 0)).slice(0, BATCH);
}
