import { describe, expect, it } from "vitest";
import { planInference } from "./planner.js";
import { predictClientLatency } from "./predict.js";
import { service, snapshot, workedFleet, workedModel } from "../testing/builders.js";

describe("predictClientLatency", () => {
  it("agrees with the planner on the plan it made, and re-prices it when the link changes", () => {
    const plan = planInference(snapshot(workedFleet(40)), service("detect"), workedModel());
    if (plan.status !== "Scheduled") throw new Error(plan.message);
    const c = plan.clients[0]!;
    expect(predictClientLatency(snapshot(workedFleet(40)), workedModel(), c)).toBeCloseTo(99, 9);
    // Same split 2 at B = 10: 50 + 1600/10 + 9 = 219 ms (the worked case's formula).
    expect(predictClientLatency(snapshot(workedFleet(10)), workedModel(), c)).toBeCloseTo(219, 9);
  });

  it("prices device-only and j = 0 plans, and a vanished server as Infinity", () => {
    const device = {
      client: "dev",
      architecture: "device" as const,
      split: 5,
      headNode: "dev",
      variant: "base",
      exitAfterLayer: 5,
      predicted: { latencyMs: 0, deviceEnergyMj: 0, accuracy: 0.9, uplinkBytes: 0 },
    };
    expect(predictClientLatency(snapshot(workedFleet(40)), workedModel(), device)).toBeCloseTo(140, 9);
    const edge = { ...device, architecture: "edge" as const, split: 0, headNode: undefined, tailNode: "edge" };
    // 4800/B + 14 at B = 100.
    expect(predictClientLatency(snapshot(workedFleet(100)), workedModel(), edge)).toBeCloseTo(62, 9);
    expect(predictClientLatency(snapshot(workedFleet(100)), workedModel(), { ...edge, tailNode: "gone" })).toBe(Infinity);
    expect(predictClientLatency(snapshot(workedFleet(100)), workedModel(), { ...edge, variant: "nope" })).toBeUndefined();
  });
});
