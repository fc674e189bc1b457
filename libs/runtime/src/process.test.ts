import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessRuntime } from "./process.js";
import { hooks, spec, waitFor } from "./test-support.js";
import { taskKey } from "./types.js";

// A killed process whose parent already exited stays a zombie until PID 1 reaps it, which can take
// a while in a container: count zombies as dead.
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] !== "Z";
  } catch {
    return true;
  }
};

describe("process runtime", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "eiaas-process-rt-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sh = (script: string, extra: Parameters<typeof spec>[0] = {}) => spec({ template: { command: ["sh", "-c", script] }, ...extra });

  it("streams stdout and stderr lines and reports the exit code", async () => {
    const rt = new ProcessRuntime();
    const h = hooks();
    const ok = await rt.start(sh("echo one; echo two >&2; printf 'three'"), h);
    expect(ok).toEqual({ exitCode: 0 });
    expect(h.out("stdout")).toEqual(["one", "three"]);
    expect(h.out("stderr")).toEqual(["two"]);
    expect(h.started).toEqual([{}]);
    expect(await rt.start(sh("exit 3"), hooks())).toEqual({ exitCode: 3, reason: "Error", message: "exited with code 3" });
  });

  it("gives the task its env and the EIAAS_* variables, but not the agent's secrets", async () => {
    process.env.EIAAS_TEST_AGENT_SECRET = "do-not-leak";
    try {
      const rt = new ProcessRuntime({ advertiseHost: "10.9.8.7" });
      const h = hooks();
      const task = spec({
        layers: { from: 1, to: 4 },
        template: {
          command: ["sh", "-c", 'echo "$A $B $EIAAS_TASK_NAME $EIAAS_TASK_ATTEMPT $EIAAS_LAYERS_FROM-$EIAAS_LAYERS_TO [$EIAAS_TEST_AGENT_SECRET]"'],
          env: { A: "from-template", B: "overridden", EIAAS_PORT: "7000" },
        },
        env: { B: "from-task" },
      });
      const r = await rt.start(task, h);
      expect(r).toEqual({ exitCode: 0, endpoint: "10.9.8.7:7000" });
      expect(h.out()).toEqual(["from-template from-task cam-1-serve 2 1-4 []"]);
      expect(h.started).toEqual([{ endpoint: "10.9.8.7:7000" }]);
    } finally {
      delete process.env.EIAAS_TEST_AGENT_SECRET;
    }
  });

  it("reports a missing or unknown command as a start error", async () => {
    const rt = new ProcessRuntime();
    expect(await rt.start(spec(), hooks())).toMatchObject({ exitCode: 127, reason: "StartError" });
    const r = await rt.start(spec({ template: { command: ["/nonexistent/eiaas-binary"] } }), hooks());
    expect(r).toMatchObject({ exitCode: 127, reason: "StartError" });
    expect(r.message).toMatch(/ENOENT/);
  });

  it("kills the whole process group when stopped", async () => {
    const rt = new ProcessRuntime();
    const pidFile = join(dir, "helper.pid");
    const task = sh(`sleep 30 & echo $! > ${pidFile}; echo ready; wait`);
    const h = hooks();
    const run = rt.start(task, h);
    await waitFor(() => h.out().includes("ready"), "the task to start its helper");
    const helper = Number(await readFile(pidFile, "utf8"));
    expect(alive(helper)).toBe(true);
    expect(await rt.stop(taskKey(task), "deleted")).toBe(true);
    expect(await run).toMatchObject({ exitCode: 143, reason: "Cancelled", message: "deleted" });
    await waitFor(() => !alive(helper), "the helper to die");
  });

  it("kills what the command left running when it exits", async () => {
    const rt = new ProcessRuntime();
    const pidFile = join(dir, "orphan.pid");
    expect(await rt.start(sh(`sleep 30 & echo $! > ${pidFile}; exit 0`), hooks())).toEqual({ exitCode: 0 });
    const orphan = Number(await readFile(pidFile, "utf8"));
    await waitFor(() => !alive(orphan), "the orphan to die");
  });

  it("escalates to SIGKILL when the task ignores SIGTERM", async () => {
    const rt = new ProcessRuntime({ killGraceMs: 200 });
    const h = hooks();
    const run = rt.start(sh(`trap '' TERM; echo ready; while :; do sleep 0.05; done`), h);
    await waitFor(() => h.out().includes("ready"), "the task to trap SIGTERM");
    h.controller.abort("node drained");
    expect(await run).toMatchObject({ exitCode: 137, reason: "Cancelled", message: "node drained" });
  });
});
