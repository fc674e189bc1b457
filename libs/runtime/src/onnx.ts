import { stageWorkMs, startServing, type NextStageSource, type ServingServer } from "@eiaas/serving";
import { INFERENCE_ROLES, ServeConfigError, serveTaskConfig } from "./onnx-config.js";
import { TaskTracker } from "./tracker.js";
import { CANCELLED_EXIT_CODE, taskKey, type TaskHooks, type TaskResult, type TaskRunSpec, type TaskRuntime } from "./types.js";

/** A serve task's models: its segment and, when its chain has one there, the exit head after it. */
export interface SegmentArtifacts {
  segment: Uint8Array;
  exitHead?: Uint8Array;
}

/** One measured run of a task's segment (for the control plane's profiles). */
export interface SegmentTiming {
  task: TaskRunSpec;
  fromLayer: number;
  toLayer: number;
  /** onnxruntime's `session.run()` of the segment, ms. */
  ms: number;
}

export interface OnnxRuntimeOptions {
  /**
   * The ONNX bytes of a serve task's layer range (the agent fetches its Model's artifact and cuts
   * it). Absent: every serve task fails with StartError, saying so.
   */
  loadSegment?: (task: TaskRunSpec) => Promise<Uint8Array | SegmentArtifacts>;
  /** Address the servers listen on. @defaultValue "127.0.0.1" */
  listenHost?: string;
  /** Host part of the endpoints reported for them. @defaultValue `listenHost`, or 127.0.0.1 when that is a wildcard */
  advertiseHost?: string;
  /** Hears the segment's run time of every answered request. Must not throw. */
  recordSegmentTiming?: (timing: SegmentTiming) => void;
  /** How long a head uses its tail's looked-up endpoint before asking again (`EIAAS_NEXT_TASK`). @defaultValue 2000 */
  nextTaskTtlMs?: number;
  /** On stop, how long requests in progress may finish. @defaultValue 5000 */
  drainMs?: number;
  /**
   * How often a server's request counts (cache hits, filter skips) go to the task's status when
   * they changed: each report is a status write, so not one per request. @defaultValue 5000
   */
  countsReportMs?: number;
}

/** Resolves (with nothing) once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(undefined), { once: true }));
}

/** Sends the server's request counts to the task's status every `periodMs` when they changed. */
function reportCounts(server: ServingServer, hooks: TaskHooks, periodMs: number): NodeJS.Timeout {
  let last = "";
  const timer = setInterval(() => {
    const serving = server.pipeline.counts();
    const text = JSON.stringify(serving);
    if (text === last || serving.requests === 0) return;
    last = text;
    try {
      hooks.onProgress?.({ serving });
    } catch {
      // a report that fails is retried with the next change
    }
  }, periodMs);
  timer.unref();
  return timer;
}

/**
 * A split plan's next stage by its Task's name (`EIAAS_NEXT_TASK`): its endpoint as the agent may
 * see it (the API's peer view of a tail of a workload this node serves), Running only. Resolved at
 * request time with a short cache rather than written into the head's env once: a tail that is
 * retried on a new port, or not Running yet, is found again without restarting the head.
 */
function nextTaskStage(task: TaskRunSpec, name: string, hooks: TaskHooks, ttlMs: number | undefined): NextStageSource {
  return {
    describe: `task ${task.namespace}/${name}`,
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    resolve: async () => {
      if (!hooks.lookupTask) throw new Error("this agent cannot look up tasks");
      const t = await hooks.lookupTask(name);
      return t?.phase === "Running" ? t.endpoint : undefined;
    },
  };
}

const failed = (reason: string, message: string, exitCode = 1): TaskResult => ({ exitCode, reason, message });

/**
 * Serves inference tasks (roles serve, head, tail) in the agent's own process: the task's segment
 * in an onnxruntime CPU session behind the serving program's HTTP server (`@eiaas/serving`), on the
 * task's `EIAAS_PORT` or a free port, reported as its endpoint. Runs until stopped; stopping drains
 * requests in progress and frees the sessions. Other roles fail at once (UnsupportedRole).
 */
export class OnnxRuntime implements TaskRuntime {
  readonly name = "onnx" as const;
  private readonly tracker = new TaskTracker();

  constructor(private readonly options: OnnxRuntimeOptions = {}) {}

  async start(task: TaskRunSpec, hooks: TaskHooks): Promise<TaskResult> {
    const { signal, end } = this.tracker.begin(taskKey(task), hooks.signal);
    try {
      return await this.run(task, hooks, signal);
    } finally {
      end();
    }
  }

  private async run(task: TaskRunSpec, hooks: TaskHooks, signal: AbortSignal): Promise<TaskResult> {
    if (!INFERENCE_ROLES.has(task.role)) {
      return failed("UnsupportedRole", `the onnx runtime serves inference tasks (serve, head, tail); this task's role is ${task.role}`);
    }
    let config;
    try {
      config = serveTaskConfig(task);
    } catch (err) {
      if (err instanceof ServeConfigError) return failed("InvalidConfig", err.message);
      throw err;
    }
    const load = this.options.loadSegment;
    if (!load) return failed("StartError", "this agent's onnx runtime has no source of model segments", 127);
    const cancelled = (): TaskResult => ({ exitCode: CANCELLED_EXIT_CODE, reason: "Cancelled", message: String(signal.reason ?? "cancelled") });
    if (signal.aborted) return cancelled();

    let artifacts: SegmentArtifacts;
    try {
      // A fetch that hangs does not hold the stop: the run ends on abort, whatever the fetch does.
      const loaded = await Promise.race([load(task), aborted(signal)]);
      if (loaded === undefined) return cancelled();
      artifacts = loaded instanceof Uint8Array ? { segment: loaded } : loaded;
    } catch (err) {
      return failed("ArtifactUnavailable", `cannot get the task's model segment: ${(err as Error).message}`);
    }
    if (artifacts.exitHead && config.exitThreshold === undefined) {
      return failed("InvalidConfig", "the task's chain has an exit head but no EIAAS_EXIT_THRESHOLD (top-1 confidence, 0..1) says when it answers");
    }

    const listenHost = this.options.listenHost ?? "127.0.0.1";
    // The agent listens through the task's hooks; the option is for using the runtime on its own.
    const listeners = [this.options.recordSegmentTiming, hooks.recordSegmentTiming?.bind(hooks)].filter((f) => f !== undefined);
    const record = listeners.length ? (t: SegmentTiming) => listeners.forEach((f) => f(t)) : undefined;
    const range = config.layers;
    let server: ServingServer;
    try {
      server = await startServing({
        model: artifacts.segment,
        ...(artifacts.exitHead ? { exitHead: artifacts.exitHead, exitThreshold: config.exitThreshold } : {}),
        ...(config.next ? { next: config.next } : config.nextTask ? { nextStage: nextTaskStage(task, config.nextTask, hooks, this.options.nextTaskTtlMs) } : {}),
        ...(config.caching ? { caching: config.caching } : {}),
        ...(config.inputFilter ? { inputFilter: config.inputFilter } : {}),
        threads: config.threads,
        port: config.port,
        host: listenHost,
        node: task.nodeName,
        ...(range ? { layers: range } : {}),
        ...(this.options.drainMs !== undefined ? { drainMs: this.options.drainMs } : {}),
        // A reused answer (cache, input filter) ran nothing: no figure of the segment's time. The
        // figure is the stage's own work (decode, run, encode), as the docker runtime's containers report it.
        ...(record && range ? { onAnswer: (t) => void (t.reused || record({ task, fromLayer: range.from, toLayer: range.to, ms: stageWorkMs(t) })) } : {}),
      });
    } catch (err) {
      return failed("StartError", (err as Error).message);
    }
    const wildcard = listenHost === "0.0.0.0" || listenHost === "::";
    const endpoint = `${this.options.advertiseHost ?? (wildcard ? "127.0.0.1" : listenHost)}:${server.port}`;
    const p = server.pipeline;
    hooks.onLog(
      `serving ${range ? `layers ${range.from}-${range.to}` : "the model"} on ${endpoint}: ${p.segment.describe()}` +
        (p.exitHead ? `, exit head at confidence ${p.exitThreshold}` : "") +
        (p.next ? `, forwarding to ${p.next.endpoint}` : "") +
        (config.caching ? `, caching ${config.caching.maxEntries} answers for ${config.caching.ttlSeconds}s` : "") +
        (config.inputFilter ? `, input filter below ${config.inputFilter.threshold}` : "") +
        `, ${config.threads} thread(s)`,
      "system",
    );
    hooks.onStarted?.({ endpoint });
    const reporter = reportCounts(server, hooks, this.options.countsReportMs ?? 5_000);
    await aborted(signal);
    clearInterval(reporter);
    await server.close();
    hooks.onLog(`stopped: ${String(signal.reason ?? "cancelled")}`, "system");
    return { ...cancelled(), endpoint };
  }

  stop(key: string, reason?: string): Promise<boolean> {
    return this.tracker.stop(key, reason);
  }

  running(): string[] {
    return this.tracker.keys();
  }

  close(): Promise<void> {
    return this.tracker.stopAll();
  }
}
