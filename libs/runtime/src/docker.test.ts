import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerRuntime, dockerRunArgs } from "./docker.js";
import { hooks, spec, waitFor } from "./test-support.js";
import { taskKey } from "./types.js";

// A stand-in for the docker CLI: records every call's arguments (one file per call, one argument
// per line), and for `run` prints a few lines, then exits with STANDIN_EXIT (passed with -e) or,
// with STANDIN_HOLD=1, runs until `rm -f <name>` kills it (exit 137, as docker reports it).
const STANDIN = `#!/bin/sh
dir="$STANDIN_DIR"
n=$(ls "$dir" | grep -c '\\.call$')
printf '%s\\n' "$@" > "$dir/$(printf '%03d' "$n")-$$.call"
case "$1" in
  run)
    name=""; prev=""; code=0; hold=0
    for a in "$@"; do
      [ "$prev" = "--name" ] && name="$a"
      case "$a" in STANDIN_EXIT=*) code="\${a#STANDIN_EXIT=}";; STANDIN_HOLD=1) hold=1;; esac
      prev="$a"
    done
    echo $$ > "$dir/$name.pid"
    echo "hello from $name"
    echo "a warning" >&2
    if [ "$hold" = 1 ]; then
      trap 'exit 137' TERM
      echo "holding"
      while :; do sleep 0.05; done
    fi
    echo "bye"
    exit "$code"
    ;;
  rm)
    for last; do :; done
    [ -f "$dir/$last.pid" ] && kill "$(cat "$dir/$last.pid")"
    echo "$last"
    ;;
esac
`;

describe("docker runtime (against a stand-in CLI on PATH)", () => {
  let dir: string;
  let calls: string;
  let cliEnv: NodeJS.ProcessEnv;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "eiaas-docker-standin-"));
    calls = join(dir, "calls");
    await writeFile(join(dir, "docker"), STANDIN);
    await chmod(join(dir, "docker"), 0o755);
    await mkdir(calls);
    cliEnv = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ""}`, STANDIN_DIR: calls };
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The recorded calls so far, oldest first, each as its argument list. */
  const recorded = async () => {
    const files = (await readdir(calls)).filter((f) => f.endsWith(".call")).sort();
    return Promise.all(files.map(async (f) => (await readFile(join(calls, f), "utf8")).split("\n").slice(0, -1)));
  };

  const task = spec({
    template: { image: "eiaas/infer:1", command: ["serve", "--port=8080"], env: { A: "1", EIAAS_PORT: "8080" } },
    env: { STANDIN_EXIT: "0" },
    layers: { from: 3, to: 8 },
    resources: { cpu: 500, memoryMiB: 256, gpu: 1 },
  });

  it("runs `docker run --rm --name … --label … -e K=V … IMAGE CMD…` and streams its output", async () => {
    const rt = new DockerRuntime({ cliEnv, advertiseHost: "192.168.1.5" });
    const h = hooks();
    const result = await rt.start(task, h);
    expect(result).toEqual({ exitCode: 0, endpoint: "192.168.1.5:8080" });
    expect(h.started).toEqual([{ endpoint: "192.168.1.5:8080" }]);
    expect(h.out("stdout")).toEqual(["hello from eiaas-acme-cam-1-serve-2", "bye"]);
    expect(h.out("stderr")).toEqual(["a warning"]);
    const [call] = await recorded();
    expect(call).toEqual([
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
      "-e", "STANDIN_EXIT=0",
      "eiaas/infer:1", "serve", "--port=8080",
    ]);
    expect(call).toEqual(dockerRunArgs(task));
  });

  it("reports the container's exit code", async () => {
    const rt = new DockerRuntime({ cliEnv });
    expect(await rt.start({ ...task, attempt: 3, env: { STANDIN_EXIT: "3" } }, hooks())).toEqual({
      exitCode: 3,
      endpoint: "127.0.0.1:8080",
      reason: "Error",
      message: "container exited with code 3",
    });
    expect(await rt.start({ ...task, attempt: 4, env: { STANDIN_EXIT: "125" } }, hooks())).toMatchObject({ exitCode: 125, reason: "StartError" });
  });

  it("removes the container with `docker rm -f <name>` when stopped", async () => {
    const rt = new DockerRuntime({ cliEnv });
    const held = { ...task, attempt: 5, env: { STANDIN_HOLD: "1" } };
    const h = hooks();
    const run = rt.start(held, h);
    await waitFor(() => h.out().includes("holding"), "the container to run");
    expect(rt.running()).toEqual([taskKey(held)]);
    expect(await rt.stop(taskKey(held), "task deleted")).toBe(true);
    expect(await run).toMatchObject({ exitCode: 137, reason: "Cancelled", message: "task deleted" });
    const all = await recorded();
    expect(all.at(-1)).toEqual(["rm", "-f", "eiaas-acme-cam-1-serve-5"]);
  });

  it("takes the CLI from EIAAS_DOCKER_BIN and reports a missing CLI or image as a start error", async () => {
    process.env.EIAAS_DOCKER_BIN = join(dir, "docker");
    try {
      const rt = new DockerRuntime({ cliEnv: { STANDIN_DIR: calls, PATH: process.env.PATH } });
      expect(await rt.start({ ...task, attempt: 6 }, hooks())).toMatchObject({ exitCode: 0 });
    } finally {
      delete process.env.EIAAS_DOCKER_BIN;
    }
    const missing = new DockerRuntime({ bin: join(dir, "no-such-docker"), cliEnv });
    expect(await missing.start({ ...task, attempt: 7 }, hooks())).toMatchObject({ exitCode: 127, reason: "StartError" });
    const before = (await recorded()).length;
    expect(await new DockerRuntime({ cliEnv }).start(spec(), hooks())).toMatchObject({ exitCode: 125, reason: "StartError", message: "the task's template has no image" });
    expect((await recorded()).length).toBe(before);
  });
});
