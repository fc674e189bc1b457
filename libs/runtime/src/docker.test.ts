// The docker runtime where no real engine can serve (docker.engine.test.ts runs real containers):
// the GPU option (no GPU runtime on these machines), the CLI chosen by EIAAS_DOCKER_BIN (a
// recording stand-in on PATH) and a missing CLI.
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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
      "run", "--rm", "--name", "eiaas-acme-cam-1-serve-2",
      "--label", "eiaas.io/task=cam-1-serve",
      "--label", "eiaas.io/namespace=acme",
      "--label", "eiaas.io/task-uid=0b7c6a2e-uid",
      "--label", "eiaas.io/attempt=2",
      "--label", "eiaas.io/node=edge-1",
      "--cpus", "0.5", "--memory", "256m", "--gpus", "1",
      "-e", "A=1",
      "-e", "EIAAS_LAYERS_FROM=3",
      "-e", "EIAAS_LAYERS_TO=8",
      "-e", "EIAAS_NODE_NAME=edge-1",
      "-e", "EIAAS_PORT=8080",
      "-e", "EIAAS_TASK_ATTEMPT=2",
      "-e", "EIAAS_TASK_NAME=cam-1-serve",
      "-e", "EIAAS_TASK_NAMESPACE=acme",
      "-e", "EIAAS_TASK_ROLE=serve",
      "-e", "EIAAS_TASK_UID=0b7c6a2e-uid",
      "eiaas/infer:1", "serve", "--port=8080",
    ]);
    expect(dockerRunArgs({ ...task, resources: { cpu: 0, memoryMiB: 0, gpu: 0 } })).not.toContain("--gpus");
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
});
