import { endpointFor, taskEnvironment } from "./environment.js";
import { TaskTracker } from "./tracker.js";
import { CANCELLED_EXIT_CODE, taskKey, type TaskHooks, type TaskResult, type TaskRunSpec, type TaskRuntime } from "./types.js";

export interface SimulatedRuntimeOptions {
  /**
   * Host part of the endpoints of tasks that serve (roles serve, tail, aggregator, or any task
   * declaring `EIAAS_PORT`). @defaultValue the task's node name
   */
  advertiseHost?: string;
  /** Port of serving tasks that declare none. @defaultValue 8080 */
  defaultPort?: number;
}

const SERVING_ROLES = new Set(["serve", "tail", "aggregator"]);

/**
 * Pretends to run tasks: a timer of the task's `expectedRunMs` (the cost model's prediction), or
 * until stopped when it has none (a server). Costs one timer per task, so one process runs
 * thousands at once. Failure injection through the task's env:
 * - `EIAAS_SIM_FAIL=1` ends the run with exit code `EIAAS_SIM_EXIT_CODE` (default 1), reason Error;
 * - `EIAAS_SIM_RUN_MS=<ms>` overrides the expected run time.
 */
export class SimulatedRuntime implements TaskRuntime {
  readonly name = "simulated" as const;
  private readonly tracker = new TaskTracker();

  constructor(private readonly options: SimulatedRuntimeOptions = {}) {}

  async start(task: TaskRunSpec, hooks: TaskHooks): Promise<TaskResult> {
    const key = taskKey(task);
    const { signal, end } = this.tracker.begin(key, hooks.signal);
    try {
      const env = taskEnvironment(task);
      const runMs = env.EIAAS_SIM_RUN_MS !== undefined ? Number(env.EIAAS_SIM_RUN_MS) : task.expectedRunMs;
      const serving = SERVING_ROLES.has(task.role) || env.EIAAS_PORT !== undefined;
      const endpoint = serving ? endpointFor(this.options.advertiseHost ?? task.nodeName, { EIAAS_PORT: String(this.options.defaultPort ?? 8080), ...env }) : undefined;
      hooks.onLog(`simulating ${task.role} ${key}${runMs !== undefined ? ` for ${runMs} ms` : " until stopped"}`, "system");
      hooks.onStarted?.(endpoint ? { endpoint } : {});
      const finished = await new Promise<boolean>((resolve) => {
        if (signal.aborted) return resolve(false);
        const timer = runMs !== undefined && Number.isFinite(runMs) ? setTimeout(() => resolve(true), Math.max(0, runMs)) : undefined;
        signal.addEventListener(
          "abort",
          () => {
            clearTimeout(timer);
            resolve(false);
          },
          { once: true },
        );
      });
      const withEndpoint = (r: TaskResult): TaskResult => (endpoint ? { ...r, endpoint } : r);
      if (!finished) {
        hooks.onLog(`stopped: ${String(signal.reason ?? "cancelled")}`, "system");
        return withEndpoint({ exitCode: CANCELLED_EXIT_CODE, reason: "Cancelled", message: String(signal.reason ?? "cancelled") });
      }
      if (env.EIAAS_SIM_FAIL === "1" || env.EIAAS_SIM_FAIL === "true") {
        const exitCode = Number(env.EIAAS_SIM_EXIT_CODE ?? 1) || 1;
        hooks.onLog(`simulated failure, exit code ${exitCode}`, "system");
        return withEndpoint({ exitCode, reason: "Error", message: "simulated failure (EIAAS_SIM_FAIL)" });
      }
      hooks.onLog("completed", "system");
      return withEndpoint({ exitCode: 0 });
    } finally {
      end();
    }
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
