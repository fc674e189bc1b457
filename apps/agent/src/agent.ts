import { API_PREFIX, type EdgeNodeSpecInput } from "@eiaas/api";
import { ApiRequestError, EiaasClient, type ConnectionOptions } from "@eiaas/client";
import type { JobContext, QueueBackend, QueueConsumer, TaskJobPayload } from "@eiaas/queue";
import { LogTail, taskKey, type TaskResult, type TaskRuntime } from "@eiaas/runtime";
import type { Logger } from "@eiaas/telemetry";
import type { CredentialStore } from "./credentials.js";
import { registerNode, type RegisteredWith } from "./registration.js";
import { RunTelemetry } from "./run-telemetry.js";

export interface AgentOptions {
  nodeName: string;
  /** What the agent detected about its node (DESIGN §4 EdgeNode.spec). */
  spec: EdgeNodeSpecInput;
  labels?: Record<string, string>;
  /**
   * API server connection; `token` is the bootstrap token, used only when the agent holds no
   * credential of its own for its node (see `credentials`).
   */
  connection: ConnectionOptions;
  /**
   * Where the agent keeps its node's credential across restarts (apps/agent/main.ts: a file under
   * --state-dir). Absent: every start registers with the bootstrap token, which works for a node
   * that does not exist yet only.
   */
  credentials?: CredentialStore;
  /** Supplies the bootstrap token when one is needed, instead of `connection.token` (the demo mints one only then). */
  bootstrapToken?: () => Promise<string | undefined>;
  runtime: TaskRuntime;
  /** Jobs run at once (`--slots`), and the node's task capacity unless its spec sets one. Default 4. */
  slots?: number;
  /**
   * The queue transport, given when the agent runs inside the control plane's trust boundary (the
   * embedded demo's in-process fleet). Absent: the agent opens its own from the credentials the
   * registration returns (Redis with an ACL user limited to its queue).
   */
  queue?: QueueBackend;
  /** Opens the queue from registration credentials (apps/agent/main.ts passes the Redis factory). */
  openQueue?: (credentials: { url: string; username?: string; password?: string }) => QueueBackend;
  /** Heartbeat period. Default 10 s. */
  heartbeatMs?: number;
  /** How often task output is forwarded to the API. Default 2 s. */
  logFlushMs?: number;
  /** Measures the link to the parent; default: the spec's values. */
  measureLink?: () => { uplinkMbps?: number; rttMs?: number };
  /** How long to wait for jobs of tasks it was running to come back after a restart. Default 45 s. */
  restartGraceMs?: number;
  logger: Logger;
  version?: string;
}

interface Running {
  payload: TaskJobPayload;
  ctx: JobContext;
}

/**
 * The node agent (kubelet's role): registers with its node's own token, or the first time with a
 * bootstrap token (receiving a token scoped to its node and its queue's credentials), heartbeats through the API, consumes `node.<name>` with
 * `slots` concurrency, runs each task attempt through its runtime and reports every phase change
 * through the API. It never touches Postgres or other nodes' queues.
 */
export class NodeAgent {
  readonly logs = new LogTail();
  private client!: EiaasClient;
  private queue?: QueueBackend;
  private ownQueue = false;
  private consumer?: QueueConsumer;
  private heartbeat?: NodeJS.Timeout;
  private readonly running = new Map<string, Running>();
  /** Output not yet forwarded to the API, per task attempt. */
  private readonly unsent = new Map<string, { payload: TaskJobPayload; lines: string[] }>();
  private logFlush?: NodeJS.Timeout;
  private watchAbort = new AbortController();
  private stopped = false;
  /** How the last start registered: with the node's own credential or a bootstrap token. */
  registeredWith?: RegisteredWith;

  constructor(private readonly o: AgentOptions) {}

  get nodeName(): string {
    return this.o.nodeName;
  }

  async start(): Promise<void> {
    const reg = await registerNode({
      nodeName: this.o.nodeName,
      // The node takes no more unfinished tasks than this agent runs at once (a long-running server
      // holds its slot): its slots are the node's task capacity unless the spec says otherwise.
      body: { metadata: { labels: this.o.labels ?? {} }, spec: { ...this.o.spec, capacity: { ...this.o.spec.capacity, tasks: this.o.spec.capacity?.tasks ?? this.o.slots ?? 4 } } },
      connection: this.o.connection,
      ...(this.o.bootstrapToken ? { bootstrapToken: this.o.bootstrapToken } : {}),
      ...(this.o.credentials ? { credentials: this.o.credentials } : {}),
      logger: this.o.logger,
      stopped: () => this.stopped,
    });
    this.registeredWith = reg.with;
    this.client = new EiaasClient({ ...this.o.connection, token: reg.token });
    if (this.o.queue) this.queue = this.o.queue;
    else if (this.o.openQueue && reg.queue.url) {
      this.queue = this.o.openQueue(reg.queue);
      this.ownQueue = true;
    } else throw new Error("the server offers no queue for remote agents (it runs without Redis): set REDIS_URL on the control plane");
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), this.o.heartbeatMs ?? 10_000);
    this.heartbeat.unref();
    this.logFlush = setInterval(() => void this.flushLogs(), this.o.logFlushMs ?? 2_000);
    this.logFlush.unref();
    const previouslyRunning = await this.tasksReportedRunning();
    this.consumer = this.queue.consumeNodeQueue(this.o.nodeName, (payload, ctx) => this.run(payload, ctx), {
      concurrency: this.o.slots ?? 4,
      onError: (err) => this.o.logger.debug({ err: err.message, node: this.o.nodeName }, "queue"),
      onInvalidPayload: (err, jobId) => this.o.logger.warn({ err: err.message, jobId }, "rejected a malformed job"),
    });
    void this.watchDeletions();
    if (previouslyRunning.length) {
      // Jobs of tasks this node was running come back to it when their locks expire; what does not
      // come back is failed, so its workload is re-planned instead of silently dropped.
      setTimeout(() => void this.failUnreturned(previouslyRunning), this.o.restartGraceMs ?? 45_000).unref();
    }
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    const link = this.o.measureLink?.() ?? { uplinkMbps: this.o.spec.network?.uplinkMbps, rttMs: this.o.spec.network?.rttMs };
    try {
      await this.client.request({
        method: "POST",
        path: `${API_PREFIX}/edgenodes/${this.o.nodeName}/heartbeat`,
        body: {
          ...(link.uplinkMbps !== undefined ? { uplinkMbps: link.uplinkMbps } : {}),
          ...(link.rttMs !== undefined ? { rttMs: link.rttMs } : {}),
          // Namespaced: two tenants' tasks may share a name on one node.
          runningTasks: [...this.running.values()].map((r) => `${r.payload.namespace}/${r.payload.name}`).sort(),
          agent: { version: this.o.version ?? "0.1.0", runtime: this.o.runtime.name },
        },
      });
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message, node: this.o.nodeName }, "heartbeat failed");
    }
  }

  /**
   * Reports a phase change; retried with backoff while the API is unreachable or busy (a report is
   * idempotent and ordered server-side, so a repeat is harmless). False when the task is gone.
   */
  private async report(p: TaskJobPayload, status: Record<string, unknown>): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.request({
          method: "PUT",
          path: `${API_PREFIX}/namespaces/${p.namespace}/tasks/${p.name}/status`,
          body: { apiVersion: "eiaas.io/v1alpha1", kind: "Task", metadata: { name: p.name }, status: { attempt: p.attempt, ...status } },
        });
        return true;
      } catch (err) {
        if (err instanceof ApiRequestError && err.code === 404) {
          this.o.logger.info({ task: `${p.namespace}/${p.name}` }, "task no longer exists (deleted or moved): not running it");
          return false;
        }
        const retryable = !(err instanceof ApiRequestError) || err.code === 409 || err.code === 429 || err.code >= 500;
        if (!retryable || attempt >= 8 || this.stopped) throw err;
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
      }
    }
  }

  private run(p: TaskJobPayload, ctx: JobContext): Promise<void> {
    const telemetry = new RunTelemetry(this.o.nodeName, p);
    return telemetry.within(() => this.execute(p, ctx, telemetry));
  }

  private async execute(p: TaskJobPayload, ctx: JobContext, telemetry: RunTelemetry): Promise<void> {
    const key = taskKey(p);
    this.running.set(key, { payload: p, ctx });
    const startTime = new Date().toISOString();
    try {
      let endpoint: string | undefined;
      // The API answered 404 to the Running report: the task was deleted or never existed.
      let gone = false;
      const result: TaskResult = await this.o.runtime.start(
        { ...p, template: p.template ?? {}, env: p.env ?? {} },
        {
          signal: ctx.signal,
          onLog: (line) => {
            this.logs.append(key, line);
            const u = this.unsent.get(key) ?? { payload: p, lines: [] };
            if (u.lines.length < 1_000) u.lines.push(line);
            this.unsent.set(key, u);
          },
          onStarted: (info) => {
            endpoint = info.endpoint;
            telemetry.started();
            void this.report(p, { phase: "Running", startTime, ...(endpoint ? { endpoint } : {}) })
              .then((applies) => {
                if (applies) return;
                // Drop the job: stop what started, free the slot (a server would run forever).
                gone = true;
                return this.o.runtime.stop(key, "task no longer exists").then(() => undefined);
              })
              .catch((err) => this.o.logger.warn({ err: (err as Error).message }, "report Running failed"));
          },
        },
      );
      await this.flushLogs(key);
      if (ctx.signal.aborted && this.stopped) return; // shutting down: the job goes back to the queue
      if (gone) return; // dropped (logged when the report answered 404): nothing left to report
      const finishTime = new Date().toISOString();
      const ok = result.exitCode === 0;
      telemetry.outcome = ok ? "succeeded" : "failed";
      await this.report(p, {
        phase: ok ? "Succeeded" : "Failed",
        startTime,
        finishTime,
        exitCode: result.exitCode,
        ...(result.reason ? { reason: result.reason } : {}),
        ...(result.message ? { message: result.message } : {}),
        ...(result.endpoint ?? endpoint ? { endpoint: result.endpoint ?? endpoint } : {}),
      });
    } finally {
      this.running.delete(key);
    }
  }

  /** Forwards buffered output to the API (the API serves `eictl logs` from it). Best effort. */
  private async flushLogs(only?: string): Promise<void> {
    for (const [key, u] of this.unsent) {
      if (only !== undefined && key !== only) continue;
      this.unsent.delete(key);
      const p = u.payload;
      await this.client
        .request({ method: "PUT", path: `${API_PREFIX}/namespaces/${p.namespace}/tasks/${p.name}/log`, body: { attempt: p.attempt, lines: u.lines } })
        .catch((err) => this.o.logger.debug({ err: (err as Error).message, task: p.name }, "log forward failed"));
    }
  }

  /** Stops tasks deleted (or moved) while they run here: the API watch is the signal. */
  private async watchDeletions(): Promise<void> {
    while (!this.stopped) {
      try {
        const w = this.client.watch("tasks", { fieldSelector: `spec.nodeName=${this.o.nodeName}`, signal: this.watchAbort.signal });
        for await (const ev of w) {
          if (ev.type !== "DELETED") continue;
          const obj = ev.object as { metadata: { namespace: string; name: string } };
          for (const [key, r] of this.running) {
            if (r.payload.namespace === obj.metadata.namespace && r.payload.name === obj.metadata.name) {
              this.consumer?.cancel(r.ctx.jobId, "task deleted");
              await this.o.runtime.stop(key, "task deleted");
            }
          }
        }
      } catch (err) {
        if (this.stopped) return;
        this.o.logger.debug({ err: (err as Error).message }, "task watch ended; reconnecting");
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  private async tasksReportedRunning(): Promise<Array<{ namespace: string; name: string; attempt: number }>> {
    const list = await this.client.listAll("tasks", { fieldSelector: `spec.nodeName=${this.o.nodeName},status.phase=Running` });
    return list.items.map((t: any) => ({ namespace: t.metadata.namespace, name: t.metadata.name, attempt: t.status?.attempt ?? 1 }));
  }

  private async failUnreturned(tasks: Array<{ namespace: string; name: string; attempt: number }>): Promise<void> {
    for (const t of tasks) {
      if (this.running.has(taskKey(t)) || this.stopped) continue;
      await this.report({ ...t, uid: "", nodeName: this.o.nodeName, role: "serve", template: {}, env: {}, resources: { cpu: 0, memoryMiB: 0, gpu: 0 }, traceContext: {} } as TaskJobPayload, {
        phase: "Failed",
        reason: "AgentRestarted",
        message: "the agent restarted and the task did not come back to it",
        finishTime: new Date().toISOString(),
      }).catch((err) => this.o.logger.warn({ err: (err as Error).message }, "could not fail an unreturned task"));
    }
  }

  /** Stops taking work; running jobs are handed back to the queue (their tasks resume elsewhere or here). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.logFlush) clearInterval(this.logFlush);
    this.watchAbort.abort();
    await this.consumer?.close({ force: true });
    if (this.ownQueue) await this.queue?.close({ force: true });
    this.client?.close();
  }
}
