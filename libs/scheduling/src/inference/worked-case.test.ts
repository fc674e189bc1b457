import { describe, expect, it } from "vitest";
import { planInference } from "./planner.js";
import { cloud, edge, service, snapshot, workedFleet, workedModel } from "../testing/builders.js";

/**
 * Issue 3's worked case: device tk1 (uplink B, rtt 0, transmitW 1) under edge server k40; 5 layers,
 * inputBytes 600000. Latency(j) = Σ_{i≤j} Tc + 8·D_j/(B·1000) + Σ_{i>j} Ts; at B = 40:
 *   j=0: 120 + 14 = 134; j=1: 40 + 160 + 10 = 210; j=2: 50 + 40 + 9 = 99; j=3: 110 + 80 + 3 = 193;
 *   j=4: 115 + 10 + 2.5 = 127.5; j=5: 140.
 */
describe("issue 3 worked case", () => {
  it("B=40, objective latency: split 2, 99 ms, 135 mJ, 200000 bytes, edge-device", () => {
    const plan = planInference(snapshot(workedFleet(40)), service("detect"), workedModel());
    expect(plan.status).toBe("Scheduled");
    if (plan.status !== "Scheduled") return;
    expect(plan.clients).toEqual([
      {
        client: "dev",
        architecture: "edge-device",
        split: 2,
        headNode: "dev",
        tailNode: "edge",
        variant: "base",
        exitAfterLayer: 5,
        predicted: { latencyMs: 99, deviceEnergyMj: 135, accuracy: 0.9, uplinkBytes: 200000 },
      },
    ]);
    expect(plan.tasks.map((t) => [t.role, t.node, t.layers])).toEqual([
      ["head", "dev", { from: 1, to: 2 }],
      ["tail", "edge", { from: 3, to: 5 }],
    ]);
  });

  // Hand-computed for each B (ms): j=0: 4800/B + 14; j=1: 40 + 6400/B + 10; j=2: 50 + 1600/B + 9;
  // j=3: 110 + 3200/B + 3; j=4: 115 + 400/B + 2.5; j=5: 140.
  // Energy (mJ): j=0: 4800/B; j=2: 95 + 1600/B; j=4: 222.5 + 400/B; j=5: 247.5.
  it.each([
    // B, split, architecture, latency, energy, uplink
    [10, 5, "device", 140, 247.5, 0],
    [20, 4, "edge-device", 137.5, 242.5, 50000],
    [30, 2, "edge-device", 50 + 1600 / 30 + 9, 95 + 1600 / 30, 200000],
    [40, 2, "edge-device", 99, 135, 200000],
    [100, 0, "edge", 62, 48, 600000],
    [1000, 0, "edge", 18.8, 4.8, 600000],
  ] as const)("B=%d: split %d (%s)", (b, split, arch, latency, energy, uplink) => {
    const plan = planInference(snapshot(workedFleet(b)), service("detect"), workedModel());
    if (plan.status !== "Scheduled") throw new Error(plan.message);
    const c = plan.clients[0]!;
    expect(c.split).toBe(split);
    expect(c.architecture).toBe(arch);
    expect(c.predicted.latencyMs).toBeCloseTo(latency, 9);
    expect(c.predicted.deviceEnergyMj).toBeCloseTo(energy, 9);
    expect(c.predicted.uplinkBytes).toBe(uplink);
    if (split === 5) expect(c.tailNode).toBeUndefined();
    if (split === 0) expect(c.headNode).toBeUndefined();
  });

  it("B=40, objective energy: j=0 costs only the upload, 120 mJ", () => {
    const plan = planInference(snapshot(workedFleet(40)), service("detect", { objective: "energy" }), workedModel());
    if (plan.status !== "Scheduled") throw new Error(plan.message);
    expect(plan.clients[0]).toMatchObject({ split: 0, architecture: "edge", predicted: { latencyMs: 134, deviceEnergyMj: 120 } });
  });

  it("B=40, objective energy under a 100 ms SLO: only j=2 (99 ms) qualifies", () => {
    const plan = planInference(snapshot(workedFleet(40)), service("detect", { objective: "energy", slo: { latencyMs: 100 } }), workedModel());
    if (plan.status !== "Scheduled") throw new Error(plan.message);
    expect(plan.clients[0]).toMatchObject({ split: 2, predicted: { latencyMs: 99, deviceEnergyMj: 135 } });
  });

  it("an SLO of exactly 99 ms is met; 98 ms fails with reason slo", () => {
    expect(planInference(snapshot(workedFleet(40)), service("detect", { slo: { latencyMs: 99 } }), workedModel()).status).toBe("Scheduled");
    const plan = planInference(snapshot(workedFleet(40)), service("detect", { slo: { latencyMs: 98 } }), workedModel());
    expect(plan.status).toBe("Unschedulable");
    if (plan.status !== "Unschedulable") return;
    expect(plan.failures).toEqual([expect.objectContaining({ client: "dev", reasons: ["slo"] })]);
    expect(plan.message).toContain("client dev: slo (fastest plan 99 ms > 98 ms)");
  });

  it("privacy device at B=100 forbids j=0 (62 ms) and picks j=2 (75 ms)", () => {
    const plan = planInference(snapshot(workedFleet(100)), service("detect", { privacy: { rawDataBoundary: "device" } }), workedModel());
    if (plan.status !== "Scheduled") throw new Error(plan.message);
    expect(plan.clients[0]).toMatchObject({ split: 2, architecture: "edge-device", predicted: { latencyMs: 75 } });
  });

  it("edge-cloud: the edge runs 1..j and a cloud server the rest", () => {
    // Fast cloud (k40 too) behind a fast edge uplink; the device link is slow, so sending the input
    // once to the edge and continuing from there can only beat the alternatives when the edge is slow.
    const fleet = workedFleet(1000, [cloud("cloud", { hardware: "k40", network: {} })]);
    fleet[1] = edge("edge", { hardware: "slow", gflops: 0.001, parent: "cloud", network: { uplinkMbps: 1000, downlinkMbps: 1000, rttMs: 1 } });
    const plan = planInference(snapshot(fleet), service("detect", { architecture: "edge-cloud" }), workedModel({ layers: workedModel().layers.map((l) => ({ ...l, flops: 1 })) }));
    if (plan.status !== "Scheduled") throw new Error(plan.message);
    const c = plan.clients[0]!;
    // latency(j) = upload 4.8 + j·0.001 (1 flop at 0.001 GFLOPS) + 8·D_j/10^6 + 1 ms RTT + k40 layers j+1..5:
    // j=1: 22.201, j=2: 16.402, j=3: 12.003, j=4: 4.8 + 0.004 + 0.4 + 1 + 2.5 = 8.704.
    expect(c).toMatchObject({ architecture: "edge-cloud", split: 4, headNode: "edge", tailNode: "cloud", predicted: { uplinkBytes: 600000 } });
    expect(c.predicted.latencyMs).toBeCloseTo(8.704, 9);
    expect(c.predicted.deviceEnergyMj).toBeCloseTo(4.8, 9);
  });
});
