import type { MeasuredClientLatency } from "@eiaas/api";
import { describe, expect, it } from "vitest";
import { planInference } from "../inference/planner.js";
import { cloud, device, edge, layers, model, service, snapshot } from "../testing/builders.js";
import { compileModel } from "./chains.js";
import { indexMeasurements, type ModelProfileLike, type SegmentFigure } from "./measurements.js";

/** Three layers of 1, 2 and 1 GFLOP: 10, 20 and 10 ms on a 100-GFLOPS node. */
const spec = (o: Parameters<typeof model>[0] = {}) => model({ inputBytes: 1000, layers: layers(3, { flops: [1e9, 2e9, 1e9], outputBytes: 100 }), ...o });
const fig = (fromLayer: number, toLayer: number, medianMs: number, o: Partial<SegmentFigure> = {}): SegmentFigure => ({
  variant: "base",
  exitAfterLayer: 3,
  fromLayer,
  toLayer,
  medianMs,
  count: 10,
  ...o,
});

/** Per-layer times of the chain on a node (from its prefix sums). */
function perLayer(chainIndex: number, node: Parameters<typeof edge>[1], segments: SegmentFigure[] | undefined, s = spec()): number[] {
  const n = snapshot([edge("n", node)]).nodes[0]!;
  const chain = compileModel(s).chains[chainIndex]!;
  const t = chain.timing(n, segments ? { segments } : undefined);
  return Array.from({ length: chain.length }, (_, i) => t.prefixT[i + 1]! - t.prefixT[i]!);
}

describe("per-layer time from measured segments (node's own over hardware profile over flops)", () => {
  it.each([
    ["nothing measured: flops / gflops", { gflops: 100 }, undefined, [10, 20, 10]],
    ["the whole chain measured: the flops split scaled to it", { gflops: 100 }, [fig(1, 3, 80)], [20, 40, 20]],
    ["part measured, the rest estimated", { gflops: 100 }, [fig(2, 3, 15)], [10, 10, 5]],
    ["a shorter figure first, the longer one's remainder spread over the rest", { gflops: 100 }, [fig(1, 3, 50), fig(2, 2, 30)], [10, 30, 10]],
    ["a remainder never below zero", { gflops: 100 }, [fig(1, 3, 20), fig(2, 2, 30)], [0, 30, 0]],
    ["no compute (gflops 0): the measured time split by flops", { gflops: 0 }, [fig(1, 3, 40)], [10, 20, 10]],
    ["another variant's figure is not this chain's", { gflops: 100 }, [fig(1, 3, 80, { variant: "small" })], [10, 20, 10]],
    ["a range past the chain is ignored", { gflops: 100 }, [fig(2, 4, 80)], [10, 20, 10]],
  ] as const)("%s", (_name, node, segments, want) => {
    const got = perLayer(0, node, segments ? [...segments] : undefined);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 9));
  });

  it("the node's measurement beats its hardware class's profile, which beats flops", () => {
    const s = spec({ profiles: [{ hardware: "x", layerLatencyMs: [5, 5, 5] }] });
    expect(perLayer(0, { gflops: 100, hardware: "x" }, undefined, s)).toEqual([5, 5, 5]);
    // Within a measured range the profile's shape is kept (5:5), scaled to the measured 30 ms.
    expect(perLayer(0, { gflops: 100, hardware: "x" }, [fig(1, 2, 30)], s)).toEqual([15, 15, 5]);
  });

  it("an exit chain takes base-layer figures of any chain of its variant, and head figures of its own exit only", () => {
    const s = spec({ exits: [{ afterLayer: 2, accuracy: 0.5, head: { flops: 1e9 } }] });
    // chains: 0 = full (3 layers), 1 = exit after 2 (layers 1, 2 and the head).
    expect(perLayer(1, { gflops: 100 }, [fig(1, 2, 60)], s)).toEqual([20, 40, 10]);
    expect(perLayer(1, { gflops: 100 }, [fig(3, 3, 7, { exitAfterLayer: 2 })], s)).toEqual([10, 20, 7]);
    // Layer 3 of the full chain is not the exit's head.
    expect(perLayer(1, { gflops: 100 }, [fig(3, 3, 7)], s)).toEqual([10, 20, 10]);
    // The full chain ignores the head's figure.
    expect(perLayer(0, { gflops: 100 }, [fig(3, 3, 7, { exitAfterLayer: 2 })], s)).toEqual([10, 20, 10]);
  });
});

describe("indexMeasurements: which figures count", () => {
  const now = Date.parse("2026-12-03T12:00:00Z");
  const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
  const profile = (node: string, segments: Array<SegmentFigure & { observedTime: string }>, generation = 1): ModelProfileLike => ({
    metadata: { namespace: "acme" },
    spec: { model: "m", nodeName: node },
    status: { modelGeneration: generation, segments },
  });
  const index = (profiles: ModelProfileLike[], generation: number | "gone" = 1) =>
    indexMeasurements(profiles, { nowMs: now, maxAgeMs: 30 * 60_000, modelGeneration: (ns, m) => (ns === "acme" && m === "m" && generation !== "gone" ? generation : undefined) });

  it.each([
    ["a recent figure", [{ ...fig(1, 3, 5), observedTime: at(1) }], 1],
    ["a stale figure (older than the maximum age)", [{ ...fig(1, 3, 5), observedTime: at(31) }], 0],
    ["a figure over too few requests", [{ ...fig(1, 3, 5, { count: 2 }), observedTime: at(1) }], 0],
    ["a reversed range", [{ ...fig(3, 1, 5), observedTime: at(1) }], 0],
    ["a time that is no time", [{ ...fig(1, 3, 5), observedTime: "yesterday" }], 0],
  ] as const)("%s", (_name, segments, kept) => {
    const got = index([profile("e1", [...segments])]);
    expect(got.get("acme/m")?.get("e1")?.segments.length ?? 0).toBe(kept);
  });

  it("figures of another generation of the model, or of a model that is gone, do not count", () => {
    expect(index([profile("e1", [{ ...fig(1, 3, 5), observedTime: at(1) }], 1)], 2).size).toBe(0);
    expect(index([profile("e1", [{ ...fig(1, 3, 5), observedTime: at(1) }], 1)], "gone").size).toBe(0);
  });
});

describe("planInference with measurements", () => {
  // A cloud and an edge of 100 GFLOPS on 1 Gbit/s links without RTT: by flops the two tie (40 ms of
  // compute), and the cloud "c" wins on name; the device computes too slowly to matter.
  const link = { network: { uplinkMbps: 1000, downlinkMbps: 1000, rttMs: 0 } };
  const fleet = () => [cloud("c", { gflops: 100 }), edge("e1", { gflops: 100, parent: "c", ...link }), device("dev", "e1", { gflops: 1, ...link })];
  const svc = service("svc", { model: "m" }, "acme");
  const now = Date.parse("2026-12-03T12:00:00Z");
  const measured = (node: string, ms: number, minutesAgo = 1): ModelProfileLike => ({
    metadata: { namespace: "acme" },
    spec: { model: "m", nodeName: node },
    status: { modelGeneration: 1, segments: [{ ...fig(1, 3, ms), observedTime: new Date(now - minutesAgo * 60_000).toISOString() }] },
  });
  const planWith = (profiles: ModelProfileLike[]) => {
    const s = snapshot(fleet());
    s.setMeasurements(indexMeasurements(profiles, { nowMs: now, maxAgeMs: 30 * 60_000, modelGeneration: () => 1 }));
    const p = planInference(s, svc, spec());
    if (p.status !== "Scheduled") throw new Error(p.message);
    return p.clients[0]!;
  };

  it.each([
    ["flops only: the servers tie, c by name", [], "c", 40],
    ["measured beats flops: c measured slow, e1 is chosen", [measured("c", 90)], "e1", 40],
    ["partial measurements: e1 measured fast, c estimated", [measured("e1", 8)], "e1", 8],
    ["stale measurements are ignored", [measured("c", 90, 45)], "c", 40],
  ] as const)("%s", (_name, profiles, tail, computeMs) => {
    const c = planWith([...profiles]);
    expect(c.tailNode).toBe(tail);
    // Input upload (1000 B at 1000 Mbit/s: 0.008 ms) plus the server's compute.
    expect(c.predicted.latencyMs).toBeCloseTo(0.008 + computeMs, 6);
  });

  it("a client's measured option is ranked at what it measured; the plan still reports the estimate", () => {
    const s = snapshot(fleet());
    const base = planInference(s, svc, spec());
    if (base.status !== "Scheduled") throw new Error(base.message);
    const current = base.clients[0]!;
    expect(current.tailNode).toBe("c");
    const slow: MeasuredClientLatency = { ...current, latencyMs: current.predicted.latencyMs * 1.3, count: 50, observedTime: new Date(now).toISOString() };
    delete (slow as Record<string, unknown>).predicted;
    const replanned = planInference(s, svc, spec(), { measuredLatency: [slow] });
    if (replanned.status !== "Scheduled") throw new Error(replanned.message);
    expect(replanned.clients[0]).toMatchObject({ tailNode: "e1" });
    expect(replanned.clients[0]!.predicted.latencyMs).toBeCloseTo(current.predicted.latencyMs, 9);
    // Measured no worse than the alternative's estimate: it stays.
    const fine = { ...slow, latencyMs: current.predicted.latencyMs };
    const kept = planInference(s, svc, spec(), { measuredLatency: [fine] });
    expect(kept.status === "Scheduled" && kept.clients[0]!.tailNode).toBe("c");
    // A measured miss of the SLO does not make the service unschedulable (feasibility is on the estimate).
    const tight = service("svc", { model: "m", slo: { latencyMs: 41 } }, "acme");
    const stillPlaced = planInference(s, tight, spec(), {
      measuredLatency: [
        { ...slow, latencyMs: 500 },
        { ...slow, architecture: "edge", tailNode: "e1", latencyMs: 500 },
      ],
    });
    expect(stillPlaced.status).toBe("Scheduled");
  });
});
