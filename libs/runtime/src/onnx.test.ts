// The onnx runtime serving real segments on real sockets: endpoint reported through onStarted and
// in the result, answers on it, a split across two tasks, stop frees the port; and the failures it
// reports instead of serving (role, configuration, artifact, port).
import { createServer } from "node:net";
import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { floats, inferBinary, maxDiff, randomInput, tinyCnn } from "@eiaas/testing";
import { OnnxRuntime, type SegmentTiming } from "./onnx.js";
import { serveTaskConfig } from "./onnx-config.js";
import { hooks, spec, waitFor } from "./test-support.js";
import { CANCELLED_EXIT_CODE, taskKey, type SegmentTimingSample } from "./types.js";

const cnn = tinyCnn({ seed: 5 });
const input = randomInput(3 * 16 * 16, 2);
const portOf = (endpoint: string) => Number(endpoint.split(":").at(-1));

describe("OnnxRuntime", () => {
  it("serves a task's segment on the endpoint it reports, and stops on request freeing it", async () => {
    const timings: SegmentTiming[] = [];
    const runtime = new OnnxRuntime({ loadSegment: async () => cnn.whole, recordSegmentTiming: (t) => timings.push(t) });
    const task = spec({ layers: { from: 1, to: 3 }, resources: { cpu: 1500, memoryMiB: 64, gpu: 0 } });
    const h = hooks();
    const done = runtime.start(task, h);
    const { endpoint } = await waitFor(() => h.started[0], "started");
    expect(endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(runtime.running()).toEqual([taskKey(task)]);
    expect(h.out("system")[0]).toMatch(/^serving layers 1-3 on 127\.0\.0\.1:\d+: input \[1,3,16,16\] → logits \[1,10\], 2 thread\(s\)$/);

    const r = await inferBinary(portOf(endpoint!), cnn.inputShape, input);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.headers["x-eiaas-timings"] as string)).toMatchObject({ node: "edge-1", layers: { from: 1, to: 3 } });
    expect(timings).toEqual([expect.objectContaining({ fromLayer: 1, toLayer: 3, ms: expect.any(Number) })]);

    expect(await runtime.stop(taskKey(task), "deleted")).toBe(true);
    expect(await done).toEqual({ exitCode: CANCELLED_EXIT_CODE, reason: "Cancelled", message: "deleted", endpoint });
    expect(runtime.running()).toEqual([]);
    await expect(inferBinary(portOf(endpoint!), cnn.inputShape, input)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("runs a split: the head task forwards to the tail task's endpoint; the answer is the whole model's", async () => {
    const runtime = new OnnxRuntime({ loadSegment: async (t) => (t.role === "head" ? cnn.head : cnn.tail) });
    const tailHooks = hooks();
    const tail = runtime.start(spec({ name: "t", role: "tail", layers: { from: 3, to: 3 } }), tailHooks);
    const tailEndpoint = (await waitFor(() => tailHooks.started[0], "tail started")).endpoint!;
    const headHooks = hooks();
    const head = runtime.start(spec({ name: "h", role: "head", nodeName: "device-1", layers: { from: 1, to: 2 }, env: { EIAAS_NEXT_ENDPOINT: tailEndpoint } }), headHooks);
    const headEndpoint = (await waitFor(() => headHooks.started[0], "head started")).endpoint!;
    expect(headHooks.out("system")[0]).toContain(`forwarding to ${tailEndpoint}`);

    const [split, whole] = await Promise.all([inferBinary(portOf(headEndpoint), cnn.inputShape, input), wholeModel()]);
    expect(maxDiff(floats(split.body), whole)).toBeLessThan(1e-4);
    expect(JSON.parse(split.headers["x-eiaas-timings"] as string)).toMatchObject({ node: "device-1", next: { node: "edge-1" } });
    await runtime.close();
    expect((await head).reason).toBe("Cancelled");
    expect((await tail).reason).toBe("Cancelled");
  });

  it("caches and filters as the task's env says, reports the counts as the task's progress, and the computed answers' run times through the hooks", async () => {
    const runtime = new OnnxRuntime({ loadSegment: async () => cnn.whole, countsReportMs: 20 });
    const h = hooks();
    const progress: unknown[] = [];
    const timings: SegmentTimingSample[] = [];
    // The agent hears run times through the task's hooks (its runtime is built without the option).
    const done = runtime.start(spec({ layers: { from: 1, to: 3 }, env: { EIAAS_CACHE_MAX_ENTRIES: "4", EIAAS_CACHE_TTL_SECONDS: "600", EIAAS_INPUT_FILTER_THRESHOLD: "0.01" } }), {
      ...h,
      onProgress: (p) => void progress.push(p),
      recordSegmentTiming: (t) => void timings.push(t),
    });
    const { endpoint } = await waitFor(() => h.started[0], "started");
    expect(h.out("system")[0]).toContain(", caching 4 answers for 600s, input filter below 0.01,");
    const port = portOf(endpoint!);
    const first = await inferBinary(port, cnn.inputShape, input);
    const hit = await inferBinary(port, cnn.inputShape, input);
    const near = await inferBinary(
      port,
      cnn.inputShape,
      input.map((v) => v + 0.001),
    );
    expect([hit, near].map((r) => JSON.parse(r.headers["x-eiaas-timings"] as string).reused)).toEqual(["cache", "filter"]);
    expect(floats(near.body)).toEqual(floats(first.body));
    // Only the computed answer ran the segment: the reused ones are no figure of its time.
    const t0 = JSON.parse(first.headers["x-eiaas-timings"] as string);
    const firstRun = t0.deserializeMs + t0.runMs + (t0.exitMs ?? 0) + t0.serializeMs;
    expect(timings).toEqual([expect.objectContaining({ task: expect.objectContaining({ namespace: "acme", name: "cam-1-serve" }), fromLayer: 1, toLayer: 3 })]);
    expect(timings[0]!.ms).toBeCloseTo(firstRun, 2);
    const counts = { requests: 3, cacheHits: 1, cacheMisses: 2, filterSkips: 1 };
    await waitFor(() => progress.some((p) => JSON.stringify(p) === JSON.stringify({ serving: counts })), "the counts reported");
    await runtime.close();
    expect((await done).reason).toBe("Cancelled");
  });

  it("listens on the task's EIAAS_PORT when it declares one", async () => {
    const port = await freePort();
    const runtime = new OnnxRuntime({ loadSegment: async () => cnn.whole, advertiseHost: "edge-1.example" });
    const h = hooks();
    const done = runtime.start(spec({ env: { EIAAS_PORT: String(port) } }), h);
    expect((await waitFor(() => h.started[0], "started")).endpoint).toBe(`edge-1.example:${port}`);
    expect((await inferBinary(port, cnn.inputShape, input)).status).toBe(200);
    h.controller.abort("agent stopping");
    expect(await done).toMatchObject({ reason: "Cancelled", message: "agent stopping", endpoint: `edge-1.example:${port}` });
  });

  it.each([
    ["a participant task", spec({ role: "participant" }), "UnsupportedRole", /serves inference tasks \(serve, head, tail\); this task's role is participant/],
    ["a bad exit threshold", spec({ env: { EIAAS_EXIT_THRESHOLD: "high" } }), "InvalidConfig", /EIAAS_EXIT_THRESHOLD: "high" is not a number between 0 and 1/],
    ["a bad next endpoint", spec({ env: { EIAAS_NEXT_ENDPOINT: "tail:80/admin" } }), "InvalidConfig", /EIAAS_NEXT_ENDPOINT: .* must be host:port/],
    ["a bad port", spec({ env: { EIAAS_PORT: "99999" } }), "InvalidConfig", /EIAAS_PORT: "99999" is not a port/],
    ["a bad cache size", spec({ env: { EIAAS_CACHE_MAX_ENTRIES: "0", EIAAS_CACHE_TTL_SECONDS: "5" } }), "InvalidConfig", /EIAAS_CACHE_MAX_ENTRIES: "0" is not an integer between 1 and 100000/],
    ["a cache without its TTL", spec({ env: { EIAAS_CACHE_MAX_ENTRIES: "10" } }), "InvalidConfig", /caching needs both EIAAS_CACHE_MAX_ENTRIES and EIAAS_CACHE_TTL_SECONDS/],
    ["a bad filter threshold", spec({ env: { EIAAS_INPUT_FILTER_THRESHOLD: "-0.1" } }), "InvalidConfig", /EIAAS_INPUT_FILTER_THRESHOLD: "-0.1" is not a number between 0 and 1000000/],
  ])("%s fails at once with a clear reason", async (_what, task, reason, message) => {
    const runtime = new OnnxRuntime({ loadSegment: async () => cnn.whole });
    const h = hooks();
    const r = await runtime.start(task, h);
    expect(r).toMatchObject({ exitCode: 1, reason });
    expect(r.message).toMatch(message);
    expect(h.started).toEqual([]);
  });

  it("reports a segment it cannot get, or cannot load, as the task's failure", async () => {
    const unavailable = await new OnnxRuntime({ loadSegment: async () => Promise.reject(new Error("GET …/artifact: 404")) }).start(spec(), hooks());
    expect(unavailable).toMatchObject({ reason: "ArtifactUnavailable", message: "cannot get the task's model segment: GET …/artifact: 404" });
    const garbage = await new OnnxRuntime({ loadSegment: async () => new Uint8Array([8, 1, 2]) }).start(spec(), hooks());
    expect(garbage).toMatchObject({ reason: "StartError", message: expect.stringMatching(/^cannot load the segment: /) });
    const noSource = await new OnnxRuntime().start(spec(), hooks());
    expect(noSource).toMatchObject({ exitCode: 127, reason: "StartError", message: "this agent's onnx runtime has no source of model segments" });
    const headless = await new OnnxRuntime({ loadSegment: async () => ({ segment: cnn.head, exitHead: cnn.exitHead }) }).start(spec(), hooks());
    expect(headless).toMatchObject({ reason: "InvalidConfig", message: expect.stringMatching(/exit head but no EIAAS_EXIT_THRESHOLD/) });
  });

  it("a stop while the segment is still being fetched ends the run at once", async () => {
    const runtime = new OnnxRuntime({ loadSegment: () => new Promise(() => undefined) });
    const h = hooks();
    const done = runtime.start(spec(), h);
    await waitFor(() => runtime.running().length === 1, "running");
    await runtime.stop(taskKey(spec()), "moved");
    expect(await done).toMatchObject({ reason: "Cancelled", message: "moved" });
    expect(h.started).toEqual([]);
  });

  it("a port in use is a StartError naming it", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await new OnnxRuntime({ loadSegment: async () => cnn.whole }).start(spec({ env: { EIAAS_PORT: String(port) } }), hooks());
      expect(r).toMatchObject({ reason: "StartError", message: expect.stringContaining("EADDRINUSE") });
    } finally {
      blocker.close();
    }
  });

  it("threads follow the task's CPU request in whole cores", () => {
    expect(serveTaskConfig(spec()).threads).toBe(1);
    expect(serveTaskConfig(spec({ resources: { cpu: 250, memoryMiB: 0, gpu: 0 } })).threads).toBe(1);
    expect(serveTaskConfig(spec({ resources: { cpu: 1001, memoryMiB: 0, gpu: 0 } })).threads).toBe(Math.min(2, availableParallelism()));
    expect(serveTaskConfig(spec({ resources: { cpu: 512_000, memoryMiB: 0, gpu: 0 } })).threads).toBe(availableParallelism());
  });
});

async function wholeModel(): Promise<Float32Array> {
  const ort = (await import("onnxruntime-node")).default;
  const s = await ort.InferenceSession.create(cnn.whole);
  const out = await s.run({ input: new ort.Tensor("float32", input, cnn.inputShape) });
  await s.release();
  return out.logits!.data as Float32Array;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
