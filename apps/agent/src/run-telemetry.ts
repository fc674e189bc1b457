import { nodeQueueName, type TaskJobPayload } from "@eiaas/queue";
import { activeContext, contextFrom, counter, gauge, recordError, runInContext, SpanKind, startSpanContext, type Context, type Span } from "@eiaas/telemetry";

export const tasksRunning = gauge({
  name: "eiaas_agent_tasks_running",
  help: "Task attempts this process's agents are running (jobs taken from their queues and not yet finished)",
});

/**
 * succeeded/failed: the task ended and was reported; dropped: stopped (or not started) because the
 * control plane no longer wanted it (deleted, failed by the control plane, superseded); handed_back:
 * the agent stopped first; error: the run itself failed.
 */
export const taskRuns = counter<"result">({
  name: "eiaas_agent_task_runs_total",
  help: "Task attempts run by this process's agents, by result (succeeded, failed, dropped, handed_back, error)",
  labelNames: ["result"],
});

/**
 * One task attempt on an agent, as telemetry: a CONSUMER span continuing the dispatch's trace (the
 * job's `traceContext`) from taking the job until the runtime started the task, with the work
 * (status reports through libs/client, which carry the context to the API) run in its context —
 * so the final report, minutes or days later for a server, still lands in the same trace without
 * a span that stays open that long. Also the running gauge and the runs counter.
 */
export class RunTelemetry {
  /** Set once the task ended and its exit code is known, or it was dropped. */
  outcome?: "succeeded" | "failed" | "dropped";
  private readonly span?: Span;
  private readonly ctx: Context;
  private open = true;

  constructor(nodeName: string, p: TaskJobPayload) {
    const queue = nodeQueueName(nodeName);
    const s = startSpanContext(`process ${queue}`, {
      kind: SpanKind.CONSUMER,
      parent: contextFrom(p.traceContext, activeContext()),
      attributes: {
        "messaging.system": "bullmq",
        "messaging.destination.name": queue,
        "messaging.message.id": `${p.uid}.${p.attempt}`,
        "eiaas.task": `${p.namespace}/${p.name}`,
        "eiaas.task.role": p.spec.role,
        "eiaas.node": nodeName,
      },
    });
    this.span = s?.span;
    this.ctx = s?.ctx ?? activeContext();
    tasksRunning.inc();
  }

  /** Runs the attempt in the span's context, then counts it. */
  async within(fn: () => Promise<void>): Promise<void> {
    try {
      await runInContext(this.ctx, fn);
      this.done(this.outcome ?? "handed_back");
    } catch (err) {
      if (this.span && this.open) recordError(this.span, err);
      this.done("error");
      throw err;
    }
  }

  /** The runtime started the task: the span ends (later reports stay its children). */
  started(): void {
    this.end();
  }

  private done(result: string): void {
    tasksRunning.dec();
    taskRuns.inc({ result });
    this.span?.setAttribute("eiaas.task.result", result);
    this.end();
  }

  private end(): void {
    if (!this.open) return;
    this.open = false;
    this.span?.end();
  }
}
