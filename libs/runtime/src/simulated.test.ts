import { describe, expect, it } from "vitest";
import { SimulatedRuntime } from "./simulated.js";
import { hooks, spec, waitFor } from "./test-support.js";
import { TaskAlreadyRunningError, taskKey } from "./types.js";

describe("simulated runtime", () => {
  it("runs for the expected time and succeeds, with an endpoint for serving roles", async () => {
    const rt = new SimulatedRuntime();
    const h = hooks();
    const result = await rt.start(spec({ expectedRunMs: 20 }), h);
    expect(result).toEqual({ exitCode: 0, endpoint: "edge-1:8080" });
    expect(h.started).toEqual([{ endpoint: "edge-1:8080" }]);
    expect(h.out("system")).toEqual(["simulating serve acme/cam-1-serve/2 for 20 ms", "completed"]);
    const trainer = await rt.start(spec({ role: "trainer", expectedRunMs: 1, env: {} }), hooks());
    expect(trainer).toEqual({ exitCode: 0 });
  });

  it("fails on EIAAS_SIM_FAIL with the requested exit code", async () => {
    const rt = new SimulatedRuntime({ advertiseHost: "10.1.2.3" });
    expect(await rt.start(spec({ role: "participant", expectedRunMs: 1, env: { EIAAS_SIM_FAIL: "1" } }), hooks())).toEqual({
      exitCode: 1,
      reason: "Error",
      message: "simulated failure (EIAAS_SIM_FAIL)",
    });
    const r = await rt.start(spec({ expectedRunMs: 1, template: { env: { EIAAS_SIM_FAIL: "true", EIAAS_SIM_EXIT_CODE: "42", EIAAS_PORT: "9000" } } }), hooks());
    expect(r).toMatchObject({ exitCode: 42, reason: "Error", endpoint: "10.1.2.3:9000" });
  });

  it("runs a task without an expected time until it is stopped", async () => {
    const rt = new SimulatedRuntime();
    const task = spec();
    const h = hooks();
    const run = rt.start(task, h);
    await waitFor(() => h.started.length === 1, "the start");
    expect(rt.running()).toEqual([taskKey(task)]);
    await expect(rt.start(task, hooks())).rejects.toThrow(TaskAlreadyRunningError);
    expect(await rt.stop(taskKey(task), "rolled over")).toBe(true);
    expect(await run).toMatchObject({ exitCode: 143, reason: "Cancelled", message: "rolled over" });
    expect(rt.running()).toEqual([]);
    expect(await rt.stop(taskKey(task))).toBe(false);
  });

  it("stops a task when the caller's signal aborts", async () => {
    const rt = new SimulatedRuntime();
    const h = hooks();
    const run = rt.start(spec({ expectedRunMs: 60_000 }), h);
    h.controller.abort("node drained");
    expect(await run).toMatchObject({ exitCode: 143, reason: "Cancelled", message: "node drained" });
  });

  it("runs thousands of tasks at once in one process", async () => {
    const rt = new SimulatedRuntime();
    const n = 5000;
    const runs = Array.from({ length: n }, (_, i) => rt.start(spec({ name: `t-${i}`, role: "participant", expectedRunMs: 10 + (i % 50) }), hooks()));
    expect(rt.running()).toHaveLength(n);
    const results = await Promise.all(runs);
    expect(results.every((r) => r.exitCode === 0)).toBe(true);
    const servers = Array.from({ length: 100 }, (_, i) => rt.start(spec({ name: `s-${i}` }), hooks()));
    await waitFor(() => rt.running().length === 100, "the servers to run");
    await rt.close();
    expect((await Promise.all(servers)).every((r) => r.reason === "Cancelled")).toBe(true);
  });
});
