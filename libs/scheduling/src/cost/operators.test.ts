import type { ElementOps, FlopsByOperator, GflopsByOperator, ModelLayer } from "@eiaas/api";
import { describe, expect, it } from "vitest";
import { planInference } from "../inference/planner.js";
import { device, edge, layers, model, service, snapshot } from "../testing/builders.js";
import { compileModel } from "./chains.js";

/** One 2-GFLOP layer whose flops are split as `by` says. */
const layer = (by?: FlopsByOperator, elementOps?: ElementOps): ModelLayer => ({
  name: "l1",
  flops: 2e9,
  outputBytes: 100,
  memoryMiB: 0,
  ...(by ? { flopsByOperator: by } : {}),
  ...(elementOps ? { elementOps } : {}),
});

function layerMs(l: ModelLayer, gflops: number, byOperator?: GflopsByOperator): number {
  const n = snapshot([edge("n", { gflops, ...(byOperator ? { gflopsByOperator: byOperator } : {}) })]).nodes[0]!;
  return compileModel(model({ inputBytes: 1000, layers: [l] })).chains[0]!.timing(n).prefixT[1]!;
}

describe("a layer's time by operator class (compute.gflopsByOperator)", () => {
  it.each([
    ["no classes on the layer: all at gflops", layer(), { matmul: 10 }, 20],
    ["no speeds on the node: all at gflops", layer({ matmul: 2e9 }), undefined, 20],
    ["all matmul at the node's matmul speed", layer({ matmul: 2e9 }), { matmul: 10 }, 200],
    ["classes at their speeds, the rest at gflops", layer({ pointwise: 1e9, depthwise: 0.5e9 }), { pointwise: 50, depthwise: 5 }, 20 + 100 + 5],
    ["a class the node does not name runs at gflops", layer({ depthwise: 1e9 }), { matmul: 10 }, 20],
    // LRN's operations are outside flops: added to the layer's time, at the node's lrn speed.
    ["LRN at the node's lrn speed, on top of the flops", layer(undefined, { lrn: 3e6 }), { lrn: 0.3 }, 20 + 10],
    ["LRN on a node that measured no lrn speed: at gflops", layer({ matmul: 1e9 }, { lrn: 3e6 }), { matmul: 10 }, 10 + 100 + 0.03],
  ] as const)("%s", (_name, l, speeds, wantMs) => {
    expect(layerMs(l, 100, speeds)).toBeCloseTo(wantMs, 9);
  });

  it("a node slow at matrix multiplies keeps a model's fully connected tail off itself", () => {
    // Two convolution layers that shrink 600 KB to 1 KB, then 4 GFLOP of fully connected layers.
    const m = model({
      inputBytes: 600_000,
      layers: [...layers(2, { flops: 1e9, outputBytes: [100_000, 1_000] }), { name: "fc", flops: 4e9, flopsByOperator: { matmul: 4e9 }, outputBytes: 4_000, memoryMiB: 0 }],
    });
    const plan = (deviceByOperator?: GflopsByOperator) => {
      const p = planInference(
        snapshot([
          device("d", "e", { gflops: 100, ...(deviceByOperator ? { gflopsByOperator: deviceByOperator } : {}), network: { uplinkMbps: 10, downlinkMbps: 10, rttMs: 5 } }),
          edge("e", { gflops: 100, gflopsByOperator: { matmul: 100 } }),
        ]),
        service("svc", { model: "m", objective: "latency", architecture: "auto" }),
        m,
        { reserve: false },
      );
      if (p.status !== "Scheduled") throw new Error(`not scheduled: ${p.message}`);
      return p;
    };
    // At one speed for everything the device runs the whole model (60 ms) rather than upload.
    const same = plan();
    expect(same.status).toBe("Scheduled");
    expect(same.clients[0]).toMatchObject({ split: 3 });
    // Measured 10x slower at matrix multiplies (400 ms for fc), it sends the 1 KB cut after layer 2 to the edge.
    const slowMatmul = plan({ matmul: 10 });
    expect(slowMatmul.clients[0]).toMatchObject({ split: 2, architecture: "edge-device" });
    expect(slowMatmul.clients[0]!.predicted.latencyMs).toBeLessThan(100);
  });
});
