import { spawn } from "node:child_process";
import { prepareServe, servesSegment, waitServing, type DockerServeOptions, type ServeMount } from "./docker-serve.js";
import { endpointFor, taskEnvironment } from "./environment.js";
import { forEachLine } from "./lines.js";
import { relayRunTimings } from "./run-timings.js";
import { signalExitCode } from "./process.js";
import { TaskTracker } from "./tracker.js";
import { taskKey, type TaskHooks, type TaskResult, type TaskRunSpec, type TaskRuntime } from "./types.js";

/** Options of the docker runtime; those of {@link DockerServeOptions} apply to inference tasks. */
export interface DockerRuntimeOptions extends DockerServeOptions {
  /** The docker (or podman) CLI. @defaultValue `EIAAS_DOCKER_BIN`, else "docker" */
  bin?: string;
  /** Environment of the CLI itself (DOCKER_HOST, PATH, ...); not the containers'. @defaultValue process.env */
  cliEnv?: NodeJS.ProcessEnv;
  /** Extra `docker run` arguments placed before the image (e.g. `--network=host`). @defaultValue [] */
  extraRunArgs?: string[];
  /** How long to wait for `docker run` to return after `docker rm -f` before killing the CLI. @defaultValue 10000 */
  stopTimeoutMs?: number;
  /** Host part of the endpoint of tasks declaring `EIAAS_PORT`. @defaultValue "127.0.0.1" */
  advertiseHost?: string;
  /**
   * The CFS period of a task's CPU quota, in µs (`--cpu-period`, with `--cpu-quota` = cores ×
   * period instead of `--cpus`). Unset: the kernel's 100 ms. At a small quota the default lets a
   * container run at full speed and then stop for the rest of each period, so a short request
   * takes a whole number of periods depending on when it arrives; a period of a few ms spreads the
   * quota evenly, which is how a slower processor behaves (the dataplane bench's device). The
   * kernel allows 1,000 µs to 1 s; a quota below 1,000 µs is raised to it.
   */
  cpuPeriodUs?: number;
}

/** `eiaas-<namespace>-<task>-<attempt>`: the container's name, unique per task attempt on a host. */
export function containerName(task: Pick<TaskRunSpec, "namespace" | "name" | "attempt">): string {
  return `eiaas-${task.namespace}-${task.name}-${task.attempt}`;
}

/**
 * The `docker run` arguments of a task (after the binary). `serve`: what an inference task's
 * container gets on top (its segment mount, published port, variables, default command).
 */
export function dockerRunArgs(task: TaskRunSpec, extraRunArgs: string[] = [], serve?: Pick<ServeMount, "args" | "env" | "command">, cpuPeriodUs?: number): string[] {
  const args = [
    "run",
    "--rm",
    "--name",
    containerName(task),
    "--label",
    `eiaas.io/task=${task.name}`,
    "--label",
    `eiaas.io/namespace=${task.namespace}`,
    "--label",
    `eiaas.io/task-uid=${task.uid}`,
    "--label",
    `eiaas.io/attempt=${task.attempt}`,
    "--label",
    `eiaas.io/node=${task.nodeName}`,
  ];
  if (task.resources.cpu > 0) args.push(...cpuArgs(task.resources.cpu, cpuPeriodUs));
  if (task.resources.memoryMiB > 0) args.push("--memory", `${Math.ceil(task.resources.memoryMiB)}m`);
  if (task.resources.gpu > 0) args.push("--gpus", String(task.resources.gpu));
  const env = { ...taskEnvironment(task), ...serve?.env };
  for (const name of Object.keys(env).sort()) args.push("-e", `${name}=${env[name]}`);
  args.push(...(serve?.args ?? []), ...extraRunArgs, task.template.image ?? "", ...(task.template.command ?? serve?.command ?? []));
  return args;
}

/** `--cpus`, or with a CFS period `--cpu-period` and `--cpu-quota` (docker refuses `--cpus` beside a period). */
function cpuArgs(milliCpu: number, periodUs: number | undefined): string[] {
  if (periodUs === undefined) return ["--cpus", String(milliCpu / 1000)];
  const period = Math.min(1_000_000, Math.max(1000, Math.round(periodUs)));
  return ["--cpu-period", String(period), "--cpu-quota", String(Math.max(1000, Math.round((milliCpu / 1000) * period)))];
}

/** Runs `bin args…` to completion, collecting its output (for short CLI calls such as `rm -f`). */
function runCli(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.once("error", (err) => resolve({ code: 127, output: err.message }));
    child.once("close", (code, sig) => resolve({ code: code ?? signalExitCode(sig), output: output.trim() }));
  });
}

/**
 * Runs each task as a container through the docker CLI (podman's is compatible):
 * `docker run --rm --name eiaas-<ns>-<task>-<attempt> --label eiaas.io/task=… -e K=V … IMAGE CMD…`,
 * attached, so the container's stdout/stderr stream into the log and `docker run`'s exit code is
 * the container's. Stopping runs `docker rm -f <name>`.
 *
 * Inference tasks (serve, head, tail), when the runtime has `loadSegment`, run `eiaas-serve` with
 * their segment mounted read-only from a per-task directory (removed when the run ends), on a
 * published port reported as their endpoint once `/healthz` answers (see docker-serve.ts).
 *
 * A container of the same name left by an earlier run of the same attempt (the agent restarted
 * while it ran) is removed first, so the attempt runs afresh; one of another task (another
 * task-uid label) is left alone and the start fails, naming it.
 */
export class DockerRuntime implements TaskRuntime {
  readonly name = "docker" as const;
  private readonly tracker = new TaskTracker();
  private readonly bin: string;
  private readonly cliEnv: NodeJS.ProcessEnv;

  constructor(private readonly options: DockerRuntimeOptions = {}) {
    this.bin = options.bin ?? process.env.EIAAS_DOCKER_BIN ?? "docker";
    this.cliEnv = options.cliEnv ?? process.env;
  }

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
    if (!task.template.image) return { exitCode: 125, reason: "StartError", message: "the task's template has no image" };
    const cancelled = (): TaskResult => ({ exitCode: signalExitCode("SIGTERM"), reason: "Cancelled", message: String(signal.reason ?? "cancelled") });
    if (signal.aborted) return cancelled();
    if (!servesSegment(task, this.options)) return this.runContainer(task, hooks, signal);
    const serve = await prepareServe(task, this.options, signal);
    if (serve === undefined) return cancelled();
    if (!("cleanup" in serve)) return serve;
    try {
      return await this.runContainer(task, hooks, signal, serve);
    } finally {
      await serve.cleanup();
    }
  }

  private async runContainer(task: TaskRunSpec, hooks: TaskHooks, signal: AbortSignal, serve?: ServeMount): Promise<TaskResult> {
    const name = containerName(task);
    const stale = await this.removeStale(name, task.uid, hooks);
    if (stale) return stale;
    const advertise = this.options.advertiseHost ?? "127.0.0.1";
    const endpoint = serve ? `${advertise}:${serve.port}` : endpointFor(advertise, taskEnvironment(task));
    const child = spawn(this.bin, dockerRunArgs(task, this.options.extraRunArgs, serve, this.options.cpuPeriodUs), { env: this.cliEnv, stdio: ["ignore", "pipe", "pipe"] });
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    // docker run's own errors (a missing image, a refused option) on its stderr: "docker: Error
    // response from daemon: …", then a hint to run --help, which says nothing.
    let cliError = "";
    let pulling = false;
    const output = Promise.all([
      forEachLine(child.stdout!, (l) => hooks.onLog(l, "stdout")),
      forEachLine(child.stderr!, (l) => {
        if (/^\S+: Error|^Error/.test(l)) cliError = l.trim();
        if (l.startsWith("Unable to find image")) pulling = true;
        hooks.onLog(l, "stderr");
      }),
    ]);

    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      cancelled = true;
      hooks.onLog(`stopping container ${name}`, "system");
      void runCli(this.bin, ["rm", "-f", name], this.cliEnv).then((r) => {
        if (r.code !== 0) hooks.onLog(`${this.bin} rm -f ${name}: ${r.output}`, "system");
      });
      // If the CLI does not return once its container is gone, end it ourselves.
      killTimer = setTimeout(() => child.kill("SIGKILL"), this.options.stopTimeoutMs ?? 10_000);
    };

    const outcome = await new Promise<{ code: number | null; sig: NodeJS.Signals | null } | { error: Error }>((resolve) => {
      child.once("error", (error) => resolve({ error }));
      child.once("spawn", () => {
        if (serve) {
          const probeHost = this.options.publishHost && !/^(0\.0\.0\.0|::)$/.test(this.options.publishHost) ? this.options.publishHost : "127.0.0.1";
          const gone = Promise.race([closed, new Promise((r) => signal.addEventListener("abort", r, { once: true }))]);
          void waitServing(probeHost, serve.port, gone).then((serving) => {
            if (!serving) return;
            hooks.onStarted?.({ endpoint: endpoint! });
            // The container's answers go to its clients, not through the agent: its run times are read back.
            if (serve.layers) void relayRunTimings(task, { host: probeHost, port: serve.port, layers: serve.layers }, hooks, gone, this.options.timingsPollMs);
          });
        } else hooks.onStarted?.(endpoint ? { endpoint } : {});
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      });
      child.once("close", (code, sig) => resolve({ code, sig }));
    });
    signal.removeEventListener("abort", onAbort);
    clearTimeout(killTimer);
    await output;

    if ("error" in outcome) {
      return { exitCode: 127, reason: "StartError", message: `cannot run the container CLI ${this.bin}: ${outcome.error.message}` };
    }
    const exitCode = outcome.code ?? signalExitCode(outcome.sig);
    const result: TaskResult = { exitCode };
    if (endpoint) result.endpoint = endpoint;
    if (cancelled) {
      result.reason = "Cancelled";
      result.message = String(signal.reason ?? "cancelled");
    } else if (exitCode === 125 || exitCode === 126 || exitCode === 127) {
      // docker run's own failures: the daemon or CLI failed (125), or the command cannot run (126/127).
      result.reason = "StartError";
      const cause = pulling ? `image ${task.template.image} is not on this host and pulling it failed: ${cliError}` : cliError;
      result.message = `${this.bin} run exited with ${exitCode}${cause ? `: ${cause}` : ""}`;
    } else if (exitCode !== 0) {
      result.reason = "Error";
      result.message = `container exited with code ${exitCode}`;
    }
    return result;
  }

  /**
   * Removes a container named `name` left by an earlier run of the same task attempt (same
   * task-uid label). Returns a start error when the name belongs to another task's container.
   */
  private async removeStale(name: string, uid: string, hooks: TaskHooks): Promise<TaskResult | undefined> {
    const found = await runCli(this.bin, ["container", "inspect", "--format", '{{index .Config.Labels "eiaas.io/task-uid"}}', name], this.cliEnv);
    if (found.code !== 0) return undefined;
    if (found.output !== uid) {
      return { exitCode: 125, reason: "StartError", message: `container name ${name} is taken by a container of another task (task-uid ${found.output || "none"})` };
    }
    hooks.onLog(`removing container ${name} left by an earlier run of this attempt`, "system");
    const removed = await runCli(this.bin, ["rm", "-f", name], this.cliEnv);
    if (removed.code !== 0) return { exitCode: 125, reason: "StartError", message: `cannot remove the stale container ${name}: ${removed.output}` };
    return undefined;
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
