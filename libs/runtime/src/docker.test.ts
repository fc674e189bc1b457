// The docker runtime where no real engine can serve (docker.engine.test.ts runs real containers):
// the GPU option (no GPU runtime on these machines), the CLI chosen by EIAAS_DOCKER_BIN (a
// recording stand-in on PATH) and a missing CLI.
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerRuntime, dockerRunArgs } from "./docker.js";
import { hooks, spec } from "./test-support.js";

// Records the arguments of `run` into $STANDIN_DIR/run.args and exits 0; `container inspect`
// finds no container, as the engine would.
const STANDIN = `#!/bin/sh
case "$1" in
  run) printf '%s\\n' "$@" > "$STANDIN_DIR/run.args"; echo "ran" ;;
  container) echo "Error: No such container: $5" >&2; exit 1 ;;
esac
`;

describe("docker runtime: what no engine here can run", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "eiaas-docker-standin-"));
    await writeFile(join(dir, "docker"), STANDIN);
    await chmod(join(dir, "docker"), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const task = spec({
    template: { image: "eiaas/infer:1", command: ["serve", "--port=8080"], env: { A: "1", EIAAS_PORT: "8080" } },
    layers: { from: 3, to: 8 },
    resources: { cpu: 500, memoryMiB: 256, gpu: 1 },
  });

  it("asks for the task's GPUs with --gpus, beside its CPU and memory limits, labels and environment", () => {
    expect(dockerRunArgs(task)).toEqual([
      "run",
      "--rm",
      "--name",
      "eiaas-acme-cam-1-serve-2",
      "--label",
      "eiaas.io/task=cam-1-serve",
      "--label",
      "eiaas.io/namespace=acme",
      "--label",
      "eiaas.io/task-uid=0b7c6a2e-uid",
      "--label",
      "eiaas.io/attempt=2",
      "--label",
      "eiaas.io/node=edge-1",
      "--cpus",
      "0.5",
      "--memory",
      "256m",
      "--gpus",
      "1",
      "-e",
      "A=1",
      "-e",
      "EIAAS_LAYERS_FROM=3",
      "-e",
      "EIAAS_LAYERS_TO=8",
      "-e",
      "EIAAS_NODE_NAME=edge-1",
      "-e",
      "EIAAS_PORT=8080",
      "-e",
      "EIAAS_TASK_ATTEMPT=2",
      "-e",
      "EIAAS_TASK_NAME=cam-1-serve",
      "-e",
      "EIAAS_TASK_NAMESPACE=acme",
      "-e",
      "EIAAS_TASK_ROLE=serve",
      "-e",
      "EIAAS_TASK_UID=0b7c6a2e-uid",
      "eiaas/infer:1",
      "serve",
      "--port=8080",
    ]);
    expect(dockerRunArgs({ ...task, resources: { cpu: 0, memoryMiB: 0, gpu: 0 } })).not.toContain("--gpus");
  });

  it("with a CFS period, the quota as --cpu-period/--cpu-quota (docker refuses --cpus beside a period), within the kernel's bounds", () => {
    const cpuArgs = (cpu: number, period?: number) => {
      const a = dockerRunArgs({ ...task, resources: { cpu, memoryMiB: 0, gpu: 0 } }, [], undefined, period);
      return a.filter((x, i) => x.startsWith("--cpu") || a[i - 1]?.startsWith("--cpu"));
    };
    expect(cpuArgs(213)).toEqual(["--cpus", "0.213"]);
    expect(cpuArgs(213, 5000)).toEqual(["--cpu-period", "5000", "--cpu-quota", "1065"]);
    expect(cpuArgs(1500, 10_000)).toEqual(["--cpu-period", "10000", "--cpu-quota", "15000"]);
    // The kernel's floor of 1 ms for both: a tiny share gets the smallest quota it allows.
    expect(cpuArgs(100, 500)).toEqual(["--cpu-period", "1000", "--cpu-quota", "1000"]);
  });

  it("takes the CLI from EIAAS_DOCKER_BIN, and reports a missing CLI or a template without image as a start error", async () => {
    process.env.EIAAS_DOCKER_BIN = join(dir, "docker");
    try {
      const h = hooks();
      const rt = new DockerRuntime({ cliEnv: { STANDIN_DIR: dir, PATH: process.env.PATH } });
      expect(await rt.start(task, h)).toEqual({ exitCode: 0, endpoint: "127.0.0.1:8080" });
      expect(h.out()).toEqual(["ran"]);
      expect((await readFile(join(dir, "run.args"), "utf8")).split("\n").slice(0, -1)).toEqual(dockerRunArgs(task));
    } finally {
      delete process.env.EIAAS_DOCKER_BIN;
    }
    const missing = new DockerRuntime({ bin: join(dir, "no-such-docker") });
    expect(await missing.start(task, hooks())).toMatchObject({ exitCode: 127, reason: "StartError" });
    expect(await new DockerRuntime({ bin: join(dir, "docker") }).start(spec(), hooks())).toMatchObject({ exitCode: 125, reason: "StartError", message: "the task's template has no image" });
  });

  it("an inference task's container gets its segment mounted read-only, a published port and eiaas-serve; the directory goes with the run", async () => {
    const segments = join(dir, "segments");
    const rt = new DockerRuntime({ bin: join(dir, "docker"), cliEnv: { STANDIN_DIR: dir, PATH: process.env.PATH }, segmentDir: segments, loadSegment: async () => new Uint8Array([1, 2, 3]) });
    const served = spec({
      template: { image: "eiaas:dev" },
      layers: { from: 1, to: 4 },
      resources: { cpu: 1500, memoryMiB: 0, gpu: 0 },
      env: { EIAAS_PORT: "9123", EIAAS_SEGMENT_FILE: "/etc/passwd" },
    });
    expect(await rt.start(served, hooks())).toEqual({ exitCode: 0, endpoint: "127.0.0.1:9123" });
    const args = (await readFile(join(dir, "run.args"), "utf8")).split("\n").slice(0, -1);
    const mount = args[args.indexOf("-v") + 1]!;
    expect(mount).toMatch(new RegExp(`^${segments}/[0-9a-f]{24}:/models:ro$`));
    expect(args).toEqual(
      expect.arrayContaining(["--cpus", "1.5", "--read-only", "-p", "127.0.0.1:9123:9123", "-e", "EIAAS_SEGMENT_FILE=/models/segment.onnx", "-e", "EIAAS_THREADS=2", "-e", "EIAAS_SERVE_HOST=0.0.0.0"]),
    );
    // The task's own EIAAS_SEGMENT_FILE cannot point the server elsewhere: one value per variable.
    expect(args.filter((a) => a.startsWith("EIAAS_SEGMENT_FILE="))).toEqual(["EIAAS_SEGMENT_FILE=/models/segment.onnx"]);
    expect(args.slice(-2)).toEqual(["eiaas:dev", "eiaas-serve"]);
    expect(await readdir(segments)).toEqual([]);
  });

  it("an inference task that cannot be served fails before any container runs, naming why", async () => {
    const forget = () => rm(join(dir, "run.args"), { force: true });
    const base = { bin: join(dir, "docker"), cliEnv: { STANDIN_DIR: dir, PATH: process.env.PATH }, segmentDir: join(dir, "segments") };
    const tail = spec({ role: "tail", template: { image: "eiaas:dev" } });
    await forget();
    expect(await new DockerRuntime({ ...base, loadSegment: async () => Promise.reject(new Error("model acme/m has no artifact")) }).start(tail, hooks())).toEqual({
      exitCode: 1,
      reason: "ArtifactUnavailable",
      message: "cannot get the task's model segment: model acme/m has no artifact",
    });
    const ok = { ...base, loadSegment: async () => ({ segment: new Uint8Array([1]), exitHead: new Uint8Array([2]) }) };
    expect(await new DockerRuntime(ok).start({ ...tail, env: { EIAAS_NEXT_ENDPOINT: "http://x/y" } }, hooks())).toMatchObject({
      exitCode: 1,
      reason: "InvalidConfig",
      message: expect.stringMatching(/^EIAAS_NEXT_ENDPOINT: /),
    });
    expect(await new DockerRuntime(ok).start(tail, hooks())).toMatchObject({ exitCode: 1, reason: "InvalidConfig", message: expect.stringContaining("no EIAAS_EXIT_THRESHOLD") });
    expect(await new DockerRuntime(ok).start({ ...tail, env: { EIAAS_PORT: "22", EIAAS_EXIT_THRESHOLD: "0.5" } }, hooks())).toEqual({
      exitCode: 1,
      reason: "InvalidConfig",
      message: "EIAAS_PORT: 22 is a privileged port; a served task is published on 1024-65535",
    });
    await expect(readFile(join(dir, "run.args"))).rejects.toThrow(/ENOENT/);
  });
});
