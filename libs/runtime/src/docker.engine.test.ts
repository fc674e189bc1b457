// The docker runtime against a real Docker engine (scripts/ensure-docker.sh installs and starts one
// as root; elsewhere these tests skip, saying why). Containers run the local Debian base image;
// every one is named after this run's own namespace and removed at the end.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docker, dockerAvailability, testImages } from "@eiaas/testing";
import { containerName, DockerRuntime } from "./docker.js";
import { hooks, spec, waitFor } from "./test-support.js";
import { taskKey, type TaskRunSpec } from "./types.js";

const engine = dockerAvailability();
// Unique per run: containers are named eiaas-<namespace>-<task>-<attempt>.
const NS = `rt${process.pid}`;

describe.skipIf(!engine.available)("docker runtime (real engine)", () => {
  let image: string;
  beforeAll(async () => {
    image = (await testImages()).BOOKWORM_IMAGE;
  }, 15 * 60_000);
  afterAll(async () => {
    const ids = (await docker("ps", "-aq", "--filter", `label=eiaas.io/namespace=${NS}`)).trim();
    if (ids) await docker("rm", "-f", ...ids.split("\n"));
  });

  const task = (name: string, command: string[], extra: Partial<TaskRunSpec> = {}): TaskRunSpec =>
    spec({ namespace: NS, name, uid: `uid-${name}`, attempt: 1, template: { image, command }, ...extra });
  const containers = async (name: string) => (await docker("ps", "-a", "--filter", `name=^${name}$`, "--format", "{{.Names}}")).trim();

  it("runs the task's command with its environment, streams stdout and stderr, and removes the container", async () => {
    const t = task("hello", ["sh", "-c", 'echo "hello from $EIAAS_TASK_NAME layers $EIAAS_LAYERS_FROM-$EIAAS_LAYERS_TO" && echo "to stderr" >&2'], { layers: { from: 3, to: 8 } });
    const h = hooks();
    expect(await new DockerRuntime().start(t, h)).toEqual({ exitCode: 0 });
    expect(h.out("stdout")).toEqual(["hello from hello layers 3-8"]);
    expect(h.out("stderr")).toEqual(["to stderr"]);
    expect(await containers(containerName(t))).toBe("");
  });

  it("applies the task's CPU and memory as limits the container's cgroup enforces", async () => {
    // cgroup v1 (this kind of machine) or v2: print whichever the container sees.
    const show =
      "cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
    const h = hooks();
    const result = await new DockerRuntime().start(task("limits", ["sh", "-c", show], { resources: { cpu: 500, memoryMiB: 96, gpu: 0 } }), h);
    expect(result).toEqual({ exitCode: 0 });
    const [cpu, memory] = h.out("stdout");
    const [quota, period] = cpu!.split(" ").map(Number);
    expect(quota! / period!).toBe(0.5);
    expect(Number(memory)).toBe(96 * 1024 * 1024);
  });

  it("reports the container's exit code", async () => {
    expect(await new DockerRuntime().start(task("fails", ["sh", "-c", "exit 3"]), hooks())).toEqual({ exitCode: 3, reason: "Error", message: "container exited with code 3" });
  });

  it("stops a running container when cancelled, and it is gone", async () => {
    const rt = new DockerRuntime();
    const t = task("held", ["sh", "-c", "echo running; exec sleep 300"]);
    const h = hooks();
    const run = rt.start(t, h);
    await waitFor(() => h.out().includes("running"), "the container to run", 60_000);
    expect(rt.running()).toEqual([taskKey(t)]);
    expect(await rt.stop(taskKey(t), "task deleted")).toBe(true);
    expect(await run).toMatchObject({ exitCode: 137, reason: "Cancelled", message: "task deleted" });
    expect(await containers(containerName(t))).toBe("");
  });

  it("after an agent restart, replaces the container its earlier run of the same attempt left, and refuses another task's", async () => {
    const t = task("again", ["sh", "-c", "echo second run"]);
    // What an agent that died mid-run leaves behind: the attempt's container, still running.
    await docker("run", "-d", "--name", containerName(t), "--label", `eiaas.io/namespace=${NS}`, "--label", `eiaas.io/task-uid=${t.uid}`, image, "sleep", "300");
    const h = hooks();
    expect(await new DockerRuntime().start(t, h)).toEqual({ exitCode: 0 });
    expect(h.out()).toEqual(["second run"]);
    expect(h.out("system")).toContain(`removing container ${containerName(t)} left by an earlier run of this attempt`);

    const other = task("taken", ["true"]);
    await docker("run", "-d", "--name", containerName(other), "--label", `eiaas.io/namespace=${NS}`, "--label", "eiaas.io/task-uid=someone-else", image, "sleep", "300");
    expect(await new DockerRuntime().start(other, hooks())).toEqual({
      exitCode: 125,
      reason: "StartError",
      message: `container name ${containerName(other)} is taken by a container of another task (task-uid someone-else)`,
    });
    expect(await containers(containerName(other))).toBe(containerName(other));
  });

  it("fails clearly when the image does not exist", async () => {
    const result = await new DockerRuntime().start(task("noimage", ["true"], { template: { image: "eiaas-test/no-such-image:0" } }), hooks());
    expect(result).toMatchObject({ exitCode: 125, reason: "StartError" });
    expect(result.message).toMatch(/^docker run exited with 125: image eiaas-test\/no-such-image:0 is not on this host and pulling it failed: docker: Error response from daemon: /);
  });
});
