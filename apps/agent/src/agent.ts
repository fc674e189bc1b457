import { API_PREFIX, type EdgeNodeSpecInput } from "@eiaas/api";
import { EiaasClient, type ConnectionOptions } from "@eiaas/client";
import type { JobContext, QueueBackend, QueueConsumer, TaskJobPayload } from "@eiaas/queue";
import { LogTail, taskKey, type SegmentTimingSample, type TaskHooks, type TaskResult, type TaskRuntime } from "@eiaas/runtime";
import type { Logger } from "@eiaas/telemetry";
import type { CredentialStore } from "./credentials.js";
import { Heartbeat } from "./heartbeat.js";
import { QueueLink, type QueueCredentials } from "./queue-link.js";
import { Reconciler } from "./reconciler.js";
import { registerNode, renewRegistration, type RegisteredWith, type RegisterOptions, type RetryBackoff } from "./registration.js";
import { LogForwarder } from "./log-forward.js";
import { Reporter, type ReporterOptions } from "./reporter.js";
import { RunReports } from "./run-reports.js";
import { Run, runSpecOf } from "./run.js";
import { SegmentTimings, TimingReporter, type SegmentTimingsOptions } from "./segment-timings.js";
import { RunTelemetry } from "./run-telemetry.js";
import { taskName, TaskInformer, type TaskView } from "./task-informer.js";

export interface AgentOptions {
  nodeName: string;
  /** What the agent detected about its node (design.md §4 EdgeNode.spec). */
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
  /**
   * Opens the queue from registration credentials (apps/agent/main.ts passes the Redis factory);
   * `onError` hears the transport's connection errors (an authentication refused, say).
   */
  openQueue?: (credentials: QueueCredentials, hooks: { onError: (err: Error) => void }) => QueueBackend;
  /** Pauses between registration attempts while the API cannot answer (not up yet, failing). */
  registrationBackoff?: RetryBackoff;
  /** Heartbeat period. Default 10 s. */
  heartbeatMs?: number;
  /** How often task output is forwarded to the API. Default 2 s. */
  logFlushMs?: number;
  /** Measures the link to the parent; default: the spec's values. */
  measureLink?: () => { uplinkMbps?: number; rttMs?: number };
  /**
   * How long to wait, after a restart, for the jobs of the tasks the node had Running to come back
   * before reporting them Failed (AgentRestarted). A dead agent's job returns once its lock lapsed
   * (30 s) and a stalled check ran (every 30 s): default 65 s. A job that returns later is not run
   * (its task already failed).
   */
  restartGraceMs?: number;
  /** How often every run is compared with the control plane's view, besides every change. Default 30 s. */
  resyncMs?: number;
  /** Backoff of status reports (retried until the API answers). */
  reports?: ReporterOptions;
  /** How often what the serving tasks measured is reported (`segment-timings`). Default 30 s. */
  timingReportMs?: number;
  /** The window and bounds of the measured segment timings (see SegmentTimings). */
  timings?: SegmentTimingsOptions;
  logger: Logger;
  version?: string;
}

/**
 * The node agent (kubelet's role): registers with its node's own token, or the first time with a
 * bootstrap token (receiving a token scoped to its node and its queue's credentials), heartbeats
 * through the API, consumes `node.<name>` with `slots` concurrency, runs each task attempt through
 * its runtime and reports every phase change through the API. It converges on the control plane's
 * view of its node ({@link Reconciler}): runs of tasks deleted, failed by the control plane or
 * superseded are stopped, and jobs of such tasks are not run. It never touches Postgres or other
 * nodes' queues.
 */
export class NodeAgent {
  readonly logs = new LogTail();
  private client!: EiaasClient;
  private link?: QueueLink;
  private consumer?: QueueConsumer;
  private heartbeat?: Heartbeat;
  private informer?: TaskInformer;
  private reconciler?: Reconciler;
  private readonly reporter: Reporter;
  /** What the node's serving tasks measured, until reported. */
  readonly timings: SegmentTimings;
  private timingReporter?: TimingReporter;
  private readonly runs = new Map<string, Run>();
  private readonly logForwarder: LogForwarder;
  private readonly runReports: RunReports;
  private readonly stopping = new AbortController();
  /** How the last start registered: with the node's own credential or a bootstrap token. */
  registeredWith?: RegisteredWith;

  constructor(private readonly o: AgentOptions) {
    this.reporter = new Reporter(() => this.client, o.logger, o.reports);
    this.runReports = new RunReports(this.reporter, o.logger, (run, why) => this.drop(run, why));
    this.logForwarder = new LogForwarder({ client: () => this.client, logger: o.logger, ...(o.logFlushMs !== undefined ? { periodMs: o.logFlushMs } : {}) });
    this.timings = new SegmentTimings(o.timings);
  }

  /**
   * What a serving runtime calls per request with the time a layer range of its task took (the
   * runtime gets it in its hooks, bound to the task it runs); the agent reports medians periodically.
   * False when the sample is malformed or the agent holds too many figures already.
   */
  recordSegmentTiming(sample: SegmentTimingSample): boolean {
    return this.timings.record(sample);
  }

  /** Reports the measured segment timings now (else every `timingReportMs`). */
  reportTimings(): Promise<void> {
    return this.timingReporter?.flush() ?? Promise.resolve();
  }

  get nodeName(): string {
    return this.o.nodeName;
  }

  /**
   * The agent's API client, with its node's own token (renewed on every start): what the node's
   * runtimes use to read what the node may read (its tasks' Models and their artifacts). Throws
   * before the agent has registered.
   */
  get apiClient(): EiaasClient {
    if (!this.client) throw new Error(`the agent of node ${this.o.nodeName} has not registered yet`);
    return this.client;
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Keys (`<namespace>/<name>/<attempt>`) of the task attempts this agent runs now. */
  runningKeys(): string[] {
    return [...this.runs.keys()];
  }

  async start(): Promise<void> {
    const registration: RegisterOptions = {
      nodeName: this.o.nodeName,
      // The node takes no more unfinished tasks than this agent runs at once (a long-running server
      // holds its slot): its slots are the node's task capacity unless the spec says otherwise.
      body: { metadata: { labels: this.o.labels ?? {} }, spec: { ...this.o.spec, capacity: { ...this.o.spec.capacity, tasks: this.o.spec.capacity?.tasks ?? this.o.slots ?? 4 } } },
      connection: this.o.connection,
      ...(this.o.bootstrapToken ? { bootstrapToken: this.o.bootstrapToken } : {}),
      ...(this.o.credentials ? { credentials: this.o.credentials } : {}),
      logger: this.o.logger,
      signal: this.stopping.signal,
      ...(this.o.registrationBackoff ? { backoff: this.o.registrationBackoff } : {}),
    };
    const reg = await registerNode(registration);
    this.registeredWith = reg.with;
    this.client = new EiaasClient({ ...this.o.connection, token: reg.token });
    if (!this.o.queue && !(this.o.openQueue && reg.queue.url)) {
      throw new Error("the server offers no queue for remote agents (it runs without Redis): set REDIS_URL on the control plane");
    }
    this.informer = new TaskInformer({
      client: () => this.client,
      nodeName: this.o.nodeName,
      logger: this.o.logger,
      handlers: { onChange: (type, t) => this.reconciler?.changed(type, t), onSync: () => this.reconciler?.reconcile() },
    });
    this.reconciler = new Reconciler({
      informer: this.informer,
      runs: () => this.runs.values(),
      drop: (run, why) => this.drop(run, why),
      logger: this.o.logger,
      nodeName: this.o.nodeName,
      ...(this.o.resyncMs !== undefined ? { resyncMs: this.o.resyncMs } : {}),
    });
    const openQueue = this.o.openQueue;
    if (!this.o.queue && openQueue) {
      this.link = new QueueLink({
        nodeName: this.o.nodeName,
        logger: this.o.logger,
        open: openQueue,
        renew: async () => (await renewRegistration(registration, reg.token)).queue,
        consume: (backend) => this.consume(backend),
      });
    }
    this.heartbeat = new Heartbeat({
      client: () => this.client,
      nodeName: this.o.nodeName,
      logger: this.o.logger,
      ...(this.o.heartbeatMs !== undefined ? { periodMs: this.o.heartbeatMs } : {}),
      link: () => this.o.measureLink?.() ?? { uplinkMbps: this.o.spec.network?.uplinkMbps, rttMs: this.o.spec.network?.rttMs },
      running: () => [...this.runs.values()].map((r) => r.task),
      ...(this.link ? { queue: () => this.link!.probe() } : {}),
      agent: { version: this.o.version ?? "0.1.0", runtime: this.o.runtime.name },
    });
    // What the node runs is known before any job is taken: a job the cache already refuses is not run.
    this.informer.start();
    await this.informer.whenSynced();
    if (this.stopped) return;
    // Tasks the node had Running when this agent (re)started: their runs are gone with the old process.
    const previouslyRunning = [...this.informer.values()].filter((t) => t.phase === "Running");
    await this.heartbeat.start();
    this.logForwarder.start();
    this.timingReporter = new TimingReporter({
      client: () => this.client,
      nodeName: this.o.nodeName,
      timings: this.timings,
      logger: this.o.logger,
      ...(this.o.timingReportMs !== undefined ? { periodMs: this.o.timingReportMs } : {}),
    });
    this.timingReporter.start();
    this.reconciler.start();
    if (this.link) this.link.connect(reg.queue);
    else this.consumer = this.consume(this.o.queue!);
    if (previouslyRunning.length) {
      // Their jobs come back to this node once their locks lapse; what has not come back by then is
      // failed, so its workload is re-planned instead of silently dropped.
      setTimeout(() => void this.failUnreturned(previouslyRunning), this.o.restartGraceMs ?? 65_000).unref();
    }
  }

  private consume(backend: QueueBackend): QueueConsumer {
    return backend.consumeNodeQueue(this.o.nodeName, (payload, ctx) => this.run(payload, ctx), {
      concurrency: this.o.slots ?? 4,
      onError: (err) => this.o.logger.debug({ err, node: this.o.nodeName }, "queue"),
      onInvalidPayload: (err, jobId) => this.o.logger.warn({ err, jobId }, "rejected a malformed job"),
    });
  }

  private run(p: TaskJobPayload, ctx: JobContext): Promise<void> {
    const telemetry = new RunTelemetry(this.o.nodeName, p);
    return telemetry.within(() => this.execute(p, ctx, telemetry));
  }

  private async execute(p: TaskJobPayload, ctx: JobContext, telemetry: RunTelemetry): Promise<void> {
    const key = taskKey(p);
    if (this.runs.has(key)) {
      // A second job of an attempt already running here (re-enqueued after Redis lost the first):
      // finished at once, the run goes on.
      this.o.logger.debug({ task: taskName(p), attempt: p.attempt }, "a second job of a run in progress: finished");
      return;
    }
    const refused = this.reconciler?.refuse(p);
    if (refused) {
      this.o.logger.info({ task: taskName(p), attempt: p.attempt, reason: refused }, "not running a job the control plane no longer wants");
      telemetry.outcome = "dropped";
      return;
    }
    const run = new Run(p, ctx);
    this.runs.set(key, run);
    // The job's signal aborts when the consumer closes: on shutdown the run stops and its job goes
    // back to the queue; a consumer retired for fresh credentials leaves the run going.
    const handBack = () => {
      if (this.stopped) run.controller.abort(ctx.signal.reason);
    };
    ctx.signal.addEventListener("abort", handBack, { once: true });
    const startTime = new Date().toISOString();
    try {
      const started: { endpoint?: string } = {};
      const result = await this.o.runtime.start(runSpecOf(p), this.hooksFor(run, telemetry, startTime, started));
      await this.logForwarder.flush(key);
      if (run.dropped) {
        telemetry.outcome = "dropped";
        return;
      }
      if (this.stopped) return; // shutting down: the job goes back to the queue
      run.finalPhase = result.exitCode === 0 ? "Succeeded" : "Failed";
      run.runningReport.abort("the final report supersedes it");
      telemetry.outcome = result.exitCode === 0 ? "succeeded" : "failed";
      const outcome = await this.reporter.send(p, finalStatus(run, result, startTime, started.endpoint), run.reports.signal);
      this.runReports.settled(run, outcome);
    } finally {
      ctx.signal.removeEventListener("abort", handBack);
      this.runs.delete(key);
      // The scheduler holds the slot of a run the control plane ended until the node reports it gone.
      if (run.dropped) this.heartbeat?.soon();
    }
  }

  /** What the runtime is given to run `run` with; the endpoint it reports goes into `started`. */
  private hooksFor(run: Run, telemetry: RunTelemetry, startTime: string, started: { endpoint?: string }): TaskHooks {
    const p = run.payload;
    return {
      signal: run.controller.signal,
      onLog: (line) => {
        this.logs.append(run.key, line);
        this.logForwarder.append(run.key, p, line);
      },
      // A runtime records for the task it runs, not for others.
      recordSegmentTiming: (t) => {
        if (t.task?.namespace === p.namespace && t.task?.name === p.name) this.timings.record(t);
      },
      onStarted: (info) => {
        started.endpoint = info.endpoint;
        telemetry.started();
        run.runningStatus = { phase: "Running", startTime, ...(info.endpoint ? { endpoint: info.endpoint } : {}) };
        void this.runReports.running(run, { ...run.runningStatus, ...run.progress });
      },
      onProgress: (progress) => this.runReports.progress(run, progress),
      lookupTask: (name) => this.lookupPeer(p.namespace, name),
    };
  }

  /**
   * Another task of the same workload, as the API shows it to this node (its endpoint): how a
   * participant finds its aggregator. Undefined when it cannot be read now.
   */
  private async lookupPeer(namespace: string, name: string): Promise<{ endpoint?: string; phase?: string } | undefined> {
    try {
      const t = await this.client.request<{ status?: { endpoint?: string; phase?: string } }>({ method: "GET", path: `${API_PREFIX}/namespaces/${namespace}/tasks/${name}` });
      return { ...(t.status?.endpoint ? { endpoint: t.status.endpoint } : {}), ...(t.status?.phase ? { phase: t.status.phase } : {}) };
    } catch {
      return undefined;
    }
  }

  /** Stops a run the control plane does not want; its job is finished, nothing more is reported. */
  private drop(run: Run, why: string): void {
    run.drop(why);
    void this.o.runtime.stop(run.key, why).catch(() => undefined);
  }

  /** Reports Failed (AgentRestarted) what the node had Running before a restart and did not come back. */
  private async failUnreturned(tasks: readonly TaskView[]): Promise<void> {
    await Promise.all(
      tasks.map(async (t) => {
        const name = taskName(t);
        if (this.stopped || [...this.runs.values()].some((r) => r.task === name && r.payload.attempt === t.attempt)) return;
        const now = this.informer?.get(name);
        if (!now || now.uid !== t.uid || now.attempt !== t.attempt || now.phase !== "Running") return; // moved on meanwhile
        await this.reporter.send(
          t,
          { phase: "Failed", reason: "AgentRestarted", message: "the agent restarted and the task did not come back to it", finishTime: new Date().toISOString() },
          this.stopping.signal,
        );
      }),
    );
  }

  /** Stops taking work; running jobs are handed back to the queue (their tasks resume elsewhere or here). */
  async stop(): Promise<void> {
    this.stopping.abort("the agent is stopping");
    // Reports still pending are given up: their runs' jobs go back to the queue unfinished.
    for (const run of this.runs.values()) {
      run.reports.abort("the agent is stopping");
      run.runningReport.abort("the agent is stopping");
    }
    this.heartbeat?.stop();
    this.timingReporter?.stop();
    this.logForwarder.stop();
    this.informer?.stop();
    this.reconciler?.stop();
    await this.consumer?.close({ force: true });
    await this.link?.close();
    this.client?.close();
  }
}

/** The final report of a run that ended with `result`. */
function finalStatus(run: Run, result: TaskResult, startTime: string, startedAt?: string): Record<string, unknown> {
  const endpoint = result.endpoint ?? startedAt;
  return {
    phase: run.finalPhase,
    startTime,
    finishTime: new Date().toISOString(),
    exitCode: result.exitCode,
    ...(result.reason ? { reason: result.reason } : {}),
    ...(result.message ? { message: result.message } : {}),
    ...(endpoint ? { endpoint } : {}),
    // The last progress stays in the task's status (a status report replaces the whole status).
    ...run.progress,
  };
}
