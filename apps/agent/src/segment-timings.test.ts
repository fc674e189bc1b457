// The agent's side of the measurements fed back into planning (issue 20 part 7): what serving
// tasks record (direct calls of recordSegmentTiming, as the serving runtime makes them) becomes
// medians over a window, bounded; the reporter sends them to the real API and forgets what the API
// says is not its node's.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION, kindInfo, modelProfileName } from "@eiaas/api";
import { EiaasClient } from "@eiaas/client";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";
import { SegmentTimings, TimingReporter } from "./segment-timings.js";
import { captureLogger } from "./testing/fixtures.js";

const task = { namespace: "acme", name: "svc-tail" };
const sample = (ms: number, o: Partial<{ fromLayer: number; toLayer: number; name: string }> = {}) => ({
  task: { namespace: "acme", name: o.name ?? task.name },
  fromLayer: o.fromLayer ?? 2,
  toLayer: o.toLayer ?? 3,
  ms,
});

describe("SegmentTimings", () => {
  it("reports the median and count over the window of each (task, layer range) with new samples", () => {
    let now = 0;
    const t = new SegmentTimings({ windowMs: 1_000, now: () => now });
    for (const ms of [5, 1, 9, 3]) t.record(sample(ms));
    t.record(sample(7, { fromLayer: 1, toLayer: 1 }));
    expect(t.take()).toEqual([
      { namespace: "acme", task: "svc-tail", fromLayer: 2, toLayer: 3, medianMs: 4, count: 4 },
      { namespace: "acme", task: "svc-tail", fromLayer: 1, toLayer: 1, medianMs: 7, count: 1 },
    ]);
    // Nothing new: nothing to report.
    expect(t.take()).toEqual([]);
    // One new sample: the window's median again, the old samples still in it.
    now = 500;
    t.record(sample(100));
    expect(t.take()).toEqual([{ namespace: "acme", task: "svc-tail", fromLayer: 2, toLayer: 3, medianMs: 5, count: 5 }]);
    // Past the window the old samples leave.
    now = 1_200;
    t.record(sample(50));
    expect(t.take()).toEqual([{ namespace: "acme", task: "svc-tail", fromLayer: 2, toLayer: 3, medianMs: 75, count: 2 }]);
  });

  it.each([
    ["a negative time", sample(-1)],
    ["a time that is not a number", sample(Number.NaN)],
    ["an infinite time", sample(Number.POSITIVE_INFINITY)],
    ["a time past ten minutes", sample(600_001)],
    ["a reversed range", sample(1, { fromLayer: 3, toLayer: 2 })],
    ["a layer 0", sample(1, { fromLayer: 0 })],
    ["a fractional layer", sample(1, { toLayer: 2.5 })],
  ])("drops %s", (_name, s) => {
    const t = new SegmentTimings();
    expect(t.record(s)).toBe(false);
    expect(t.take()).toEqual([]);
  });

  it("holds a bounded number of keys and samples per key", () => {
    const t = new SegmentTimings({ maxKeys: 2, samplesPerKey: 3 });
    expect(t.record(sample(1, { name: "a" }))).toBe(true);
    expect(t.record(sample(1, { name: "b" }))).toBe(true);
    expect(t.record(sample(1, { name: "c" }))).toBe(false);
    for (const ms of [10, 20, 30, 40]) t.record(sample(ms, { name: "a" }));
    expect(t.take().find((x) => x.task === "a")).toMatchObject({ count: 3, medianMs: 30 });
  });
});

describe("TimingReporter against the API", () => {
  let api: TestApi;
  let client: EiaasClient;
  beforeAll(async () => {
    api = await startTestApi({ rateLimit: { qps: 1e9, burst: 1e9 } });
    const url = await api.listen();
    const store = api.store;
    await store.create(kindInfo("Tenant"), { apiVersion: API_VERSION, metadata: { name: "acme" }, spec: {} } as any);
    await store.create(kindInfo("EdgeNode"), { apiVersion: API_VERSION, metadata: { name: "edge-1" }, spec: { tier: "edge" } } as any);
    const layers = [1, 2, 3].map((i) => ({ name: `l${i}`, flops: 1e9, outputBytes: 1000, memoryMiB: 1 }));
    await store.create(kindInfo("Model"), { apiVersion: API_VERSION, metadata: { name: "m", namespace: "acme" }, spec: { inputBytes: 1000, accuracy: 0.9, layers } } as any);
    const svc = await store.create(kindInfo("InferenceService"), { apiVersion: API_VERSION, metadata: { name: "svc", namespace: "acme" }, spec: { model: "m", clients: { selector: {} } } } as any);
    await store.create(kindInfo("Task"), {
      apiVersion: API_VERSION,
      metadata: { name: "svc-tail", namespace: "acme", ownerReferences: [{ apiVersion: API_VERSION, kind: "InferenceService", name: "svc", uid: svc.metadata.uid, controller: true }] },
      spec: { nodeName: "edge-1", role: "tail", layers: { from: 2, to: 3 }, env: { EIAAS_EXIT_AFTER_LAYER: "3" }, template: {}, resources: { cpu: 0, memoryMiB: 0, gpu: 0 } },
      status: { phase: "Running", attempt: 1 },
    } as any);
    const token = (await api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
    client = new EiaasClient({ server: url, token });
  });
  afterAll(async () => {
    client?.close();
    await api?.close();
  });

  it("sends the figures; a task the API says is not the node's is forgotten and the rest is sent", async () => {
    const timings = new SegmentTimings();
    const reporter = new TimingReporter({ client: () => client, nodeName: "edge-1", timings, logger: captureLogger().logger });
    for (const ms of [10, 12, 14]) timings.record(sample(ms));
    for (const ms of [1, 2, 3]) timings.record(sample(ms, { name: "gone" }));
    await reporter.flush();
    const profile = await api.store.get(kindInfo("ModelProfile"), "acme", modelProfileName("m", "edge-1"));
    expect(profile?.status.segments).toEqual([expect.objectContaining({ fromLayer: 2, toLayer: 3, medianMs: 12, count: 3 })]);
    // The gone task's window was dropped: new samples of it start a window of their own.
    timings.record(sample(5, { name: "gone" }));
    expect(timings.take()).toEqual([expect.objectContaining({ task: "gone", count: 1 })]);
  });

  it("a report that fails for another reason is sent again at the next period", async () => {
    const timings = new SegmentTimings();
    const unreachable = new EiaasClient({ server: "http://127.0.0.1:9", token: "x".repeat(40) });
    const reporter = new TimingReporter({ client: () => unreachable, nodeName: "edge-1", timings, logger: captureLogger().logger });
    timings.record(sample(30));
    await reporter.flush();
    unreachable.close();
    expect(timings.take()).toEqual([expect.objectContaining({ task: "svc-tail", medianMs: 30, count: 1 })]);
  });
});
