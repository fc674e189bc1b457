// What the docker runtime adds for inference tasks (roles serve, head, tail): the task's segment
// (and exit head) written to a private per-task directory that the `eiaas-serve` container mounts
// read-only, a published port advertised as the task's endpoint, and onnxruntime threads matching
// the task's CPU quota. The container runs the same program as the agent's `onnx` runtime
// (libs/serving/src/main.ts) and reads the same variables.
import { createHash } from "node:crypto";
import { request } from "node:http";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { declaredPort, taskEnvironment } from "./environment.js";
import type { SegmentArtifacts } from "./onnx.js";
import { INFERENCE_ROLES, ServeConfigError, serveTaskConfig } from "./onnx-config.js";
import { taskKey, type TaskResult, type TaskRunSpec } from "./types.js";

/** Where the segment directory is mounted in the container. */
export const MODELS_MOUNT = "/models";

export interface DockerServeOptions {
  /**
   * The ONNX bytes of an inference task's layer range (the agent's `ModelArtifacts.loadSegment`).
   * Absent: inference tasks run as any other container (their image must bring its model).
   */
  loadSegment?: (task: TaskRunSpec) => Promise<Uint8Array | SegmentArtifacts>;
  /**
   * Where per-task segment directories are written. It should be private to the agent (0700):
   * only the task's own directory inside it is readable by the container's user, and a bind mount
   * does not need its parents. @defaultValue a fresh 0700 directory under the OS temp dir
   */
  segmentDir?: string;
  /** Host address the containers' serving ports are published on. @defaultValue "127.0.0.1" */
  publishHost?: string;
  /**
   * How often a serving container's run times are read (`GET /v1/timings`) and handed to the
   * agent (`TaskHooks.recordSegmentTiming`, for ModelProfiles). The container keeps its last 1 024.
   * @defaultValue 2000
   */
  timingsPollMs?: number;
}

/** What an inference task's container gets on top of an ordinary task's `docker run`. */
export interface ServeMount {
  /** Extra `docker run` arguments (mount, published port, read-only root). */
  args: string[];
  /** Variables overriding the task's own (segment paths, port, threads, listen address). */
  env: Record<string, string>;
  /** The command when the task's template names none. */
  command: string[];
  /** Host port the container serves on. */
  port: number;
  /** The chain layers the task's segment runs (what its run times are figures of). */
  layers?: { from: number; to: number };
  /** Removes the task's segment directory. */
  cleanup(): Promise<void>;
}

const failed = (reason: string, message: string, exitCode = 1): TaskResult => ({ exitCode, reason, message });

/** Whether the docker runtime gives `task` a segment to serve (rather than running it as any container). */
export function servesSegment(task: TaskRunSpec, options: DockerServeOptions): boolean {
  return options.loadSegment !== undefined && INFERENCE_ROLES.has(task.role);
}

/** A free TCP port on `host` (the OS's pick; the container binds it a moment later). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let defaultDir: Promise<string> | undefined;
/** One private directory per agent process when none is configured (mkdtemp: not guessable, 0700). */
function segmentRoot(options: DockerServeOptions): Promise<string> {
  if (options.segmentDir) return mkdir(options.segmentDir, { recursive: true, mode: 0o700 }).then(() => options.segmentDir!);
  defaultDir ??= mkdtemp(join(tmpdir(), "eiaas-docker-segments-"));
  return defaultDir;
}

/**
 * Loads the task's segment and lays out its container's mount. Resolves with a task result instead
 * when the task cannot be served (its configuration, its segment), or `undefined` once `signal`
 * aborted while the segment was being fetched.
 */
export async function prepareServe(task: TaskRunSpec, options: DockerServeOptions, signal: AbortSignal): Promise<ServeMount | TaskResult | undefined> {
  let config;
  try {
    config = serveTaskConfig(task);
  } catch (err) {
    if (err instanceof ServeConfigError) return failed("InvalidConfig", err.message);
    throw err;
  }
  let artifacts: SegmentArtifacts;
  try {
    const abort = new Promise<undefined>((resolve) => (signal.aborted ? resolve(undefined) : signal.addEventListener("abort", () => resolve(undefined), { once: true })));
    const loaded = await Promise.race([options.loadSegment!(task), abort]);
    if (loaded === undefined) return undefined;
    artifacts = loaded instanceof Uint8Array ? { segment: loaded } : loaded;
  } catch (err) {
    return failed("ArtifactUnavailable", `cannot get the task's model segment: ${(err as Error).message}`);
  }
  if (artifacts.exitHead && config.exitThreshold === undefined) {
    return failed("InvalidConfig", "the task's chain has an exit head but no EIAAS_EXIT_THRESHOLD (top-1 confidence, 0..1) says when it answers");
  }
  const publishHost = options.publishHost ?? "127.0.0.1";
  // A declared port is the task's contract (its endpoint may be known in advance); otherwise the
  // same free host port is used inside the container, so it works under --network=host too.
  const declared = declaredPort(taskEnvironment(task));
  // docker publishes as root: a task must not take the node's privileged ports (ssh, ...).
  if (declared !== undefined && declared < 1024) return failed("InvalidConfig", `EIAAS_PORT: ${declared} is a privileged port; a served task is published on 1024-65535`);
  const port = declared ?? (await freePort(publishHost));

  // Named after a hash of the attempt's key, not its name: nothing of the task's reaches the path.
  const dir = join(await segmentRoot(options), createHash("sha256").update(taskKey(task)).digest("hex").slice(0, 24));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o755 });
  // The container runs as its image's user (10001 in eiaas's), not the agent's: world-readable
  // files in a directory only reachable through the mount (its parent is private).
  await chmod(dir, 0o755);
  await writeFile(join(dir, "segment.onnx"), artifacts.segment, { mode: 0o644 });
  const env: Record<string, string> = {
    EIAAS_SEGMENT_FILE: `${MODELS_MOUNT}/segment.onnx`,
    EIAAS_PORT: String(port),
    EIAAS_SERVE_HOST: "0.0.0.0",
    EIAAS_THREADS: String(config.threads),
  };
  if (artifacts.exitHead) {
    await writeFile(join(dir, "exit-head.onnx"), artifacts.exitHead, { mode: 0o644 });
    env.EIAAS_EXIT_HEAD_FILE = `${MODELS_MOUNT}/exit-head.onnx`;
  }
  return {
    args: ["--read-only", "--tmpfs", "/tmp:mode=1777", "-v", `${dir}:${MODELS_MOUNT}:ro`, "-p", `${publishHost.includes(":") ? `[${publishHost}]` : publishHost}:${port}:${port}`],
    env,
    command: ["eiaas-serve"],
    port,
    ...(config.layers ? { layers: config.layers } : {}),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Whether `GET /healthz` on host:port answers 200 now. */
export function healthy(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: "/healthz", method: "GET", timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(false));
    req.end();
  });
}

/**
 * Polls the container's /healthz until it answers (resolves true), or until `gone` resolves (the
 * container ended or the task was stopped: false). The endpoint is reported only once it serves,
 * so a client routed to it is not refused while the model loads.
 */
export async function waitServing(host: string, port: number, gone: Promise<unknown>): Promise<boolean> {
  let over = false;
  void gone.then(() => (over = true));
  while (!over) {
    if (await healthy(host, port)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
