import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { endpointFor, taskEnvironment } from "./environment.js";
import { forEachLine } from "./lines.js";
import { TaskTracker } from "./tracker.js";
import { taskKey, type TaskHooks, type TaskResult, type TaskRunSpec, type TaskRuntime } from "./types.js";

/** Variables of the agent's own environment a task process gets; the rest (tokens!) stay out. */
export const DEFAULT_INHERITED_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"];

export interface ProcessRuntimeOptions {
  /** Working directory of task processes. @defaultValue the agent's */
  cwd?: string;
  /** Names of the agent's env variables passed on to tasks. @defaultValue {@link DEFAULT_INHERITED_ENV} */
  inheritEnv?: string[];
  /** After SIGTERM on stop, how long before SIGKILL. @defaultValue 5000 */
  killGraceMs?: number;
  /** Host part of the endpoint of tasks declaring `EIAAS_PORT`. @defaultValue "127.0.0.1" */
  advertiseHost?: string;
}

/** The exit code of a process that ended by a signal, as shells and container runtimes report it. */
export function signalExitCode(signal: NodeJS.Signals | null): number {
  const n = signal ? (constants.signals as Record<string, number>)[signal] : undefined;
  return 128 + (n ?? 0);
}

/** Sends `signal` to the child's whole process group (it leads one: spawned `detached`). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/**
 * Runs `template.command` as a local process in a process group of its own, streaming its
 * stdout/stderr lines. Stopping it signals the whole group (SIGTERM, then SIGKILL after the
 * grace period), so helpers the command started go too; and when the command exits, whatever it
 * left running in its group is killed, as a container's processes die with its main process.
 */
export class ProcessRuntime implements TaskRuntime {
  readonly name = "process" as const;
  private readonly tracker = new TaskTracker();

  constructor(private readonly options: ProcessRuntimeOptions = {}) {}

  async start(task: TaskRunSpec, hooks: TaskHooks): Promise<TaskResult> {
    const key = taskKey(task);
    const { signal, end } = this.tracker.begin(key, hooks.signal);
    try {
      return await this.run(task, hooks, signal);
    } finally {
      end();
    }
  }

  private async run(task: TaskRunSpec, hooks: TaskHooks, signal: AbortSignal): Promise<TaskResult> {
    const argv = task.template.command ?? [];
    const [file, ...args] = argv;
    if (!file) return { exitCode: 127, reason: "StartError", message: "the task's template has no command" };
    if (signal.aborted) return { exitCode: signalExitCode("SIGTERM"), reason: "Cancelled", message: String(signal.reason) };

    const env: Record<string, string> = {};
    for (const name of this.options.inheritEnv ?? DEFAULT_INHERITED_ENV) {
      const v = process.env[name];
      if (v !== undefined) env[name] = v;
    }
    Object.assign(env, taskEnvironment(task));
    const endpoint = endpointFor(this.options.advertiseHost ?? "127.0.0.1", env);

    const child = spawn(file, args, { cwd: this.options.cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const output = Promise.all([forEachLine(child.stdout!, (l) => hooks.onLog(l, "stdout")), forEachLine(child.stderr!, (l) => hooks.onLog(l, "stderr"))]);

    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      cancelled = true;
      killGroup(child, "SIGTERM");
      killTimer = setTimeout(() => killGroup(child, "SIGKILL"), this.options.killGraceMs ?? 5000);
    };

    const outcome = await new Promise<{ code: number | null; sig: NodeJS.Signals | null } | { error: Error }>((resolve) => {
      child.once("error", (error) => resolve({ error }));
      child.once("spawn", () => {
        hooks.onStarted?.(endpoint ? { endpoint } : {});
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      });
      child.once("exit", (code, sig) => resolve({ code, sig }));
    });
    signal.removeEventListener("abort", onAbort);
    clearTimeout(killTimer);

    if ("error" in outcome) {
      const notFound = (outcome.error as NodeJS.ErrnoException).code === "ENOENT";
      return { exitCode: notFound ? 127 : 126, reason: "StartError", message: `cannot run ${file}: ${outcome.error.message}` };
    }
    // The main process is gone: end the rest of its group, then collect the output it left.
    killGroup(child, "SIGKILL");
    await Promise.race([output, new Promise((r) => setTimeout(r, 1000))]);
    child.stdout?.destroy();
    child.stderr?.destroy();

    const exitCode = outcome.code ?? signalExitCode(outcome.sig);
    const result: TaskResult = { exitCode };
    if (endpoint) result.endpoint = endpoint;
    if (cancelled) {
      result.reason = "Cancelled";
      result.message = String(signal.reason ?? "cancelled");
    } else if (exitCode !== 0) {
      result.reason = "Error";
      result.message = outcome.sig ? `killed by ${outcome.sig}` : `exited with code ${exitCode}`;
    }
    return result;
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
