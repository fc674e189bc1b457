import { describe, expect, it } from "vitest";
import { calibrationModels, importOnnxModel, speedsFromTimes } from "./index.js";

describe("calibration models", () => {
  const models = calibrationModels();

  it("count their flops as a layer table does (import agrees, class by class)", () => {
    for (const m of models) {
      const layers = importOnnxModel(m.bytes).layers;
      const flops = layers.reduce((a, l) => a + l.flops, 0);
      const classified = { pointwise: 0, depthwise: 0, matmul: 0 };
      for (const l of layers) for (const k of ["pointwise", "depthwise", "matmul"] as const) classified[k] += l.flopsByOperator?.[k] ?? 0;
      const general = flops - classified.pointwise - classified.depthwise - classified.matmul;
      const lrn = layers.reduce((a, l) => a + (l.elementOps?.lrn ?? 0), 0);
      expect({ general, ...classified, lrn }, m.measures).toEqual({
        general: m.flops.general ?? 0,
        pointwise: m.flops.pointwise ?? 0,
        depthwise: m.flops.depthwise ?? 0,
        matmul: m.flops.matmul ?? 0,
        lrn: m.flops.lrn ?? 0,
      });
    }
  });

  it.each([
    ["every class told apart", { general: 10, pointwise: 1, depthwise: 2, matmul: 4, lrn: 8 }, { pointwise: true, depthwise: true, matmul: true, lrn: true }],
    // The depthwise model ran no longer than its 1x1 convolutions alone would: its time cannot be told apart.
    ["depthwise within noise of the 1x1 part: left to gflops", { general: 10, pointwise: 1, depthwise: 1.02, matmul: 4 }, { pointwise: true, depthwise: false, matmul: true, lrn: false }],
    ["a class not measured: left to gflops", { general: 10, pointwise: 1 }, { pointwise: true, depthwise: false, matmul: false, lrn: false }],
  ] as const)("speeds from run times: %s", (_name, times, present) => {
    const ms: Partial<Record<"general" | "pointwise" | "depthwise" | "matmul" | "lrn", number>> & { general: number; pointwise: number } = times;
    const s = speedsFromTimes(models, ms);
    const of = (k: string) => models.find((m) => m.measures === k)!;
    expect(s.gflops).toBeCloseTo(of("general").flops.general! / 1e6 / ms.general, 6);
    expect(s.byOperator.pointwise).toBeCloseTo(of("pointwise").flops.pointwise! / 1e6 / ms.pointwise, 6);
    expect("depthwise" in s.byOperator).toBe(present.depthwise);
    expect("matmul" in s.byOperator).toBe(present.matmul);
    expect("lrn" in s.byOperator).toBe(present.lrn);
    // LRN's operations (2 x size per element) over its time, as a layer's elementOps are timed.
    if (present.lrn) expect(s.byOperator.lrn).toBeCloseTo(of("lrn").flops.lrn! / 1e6 / ms.lrn!, 6);
    if (present.depthwise) {
      const dw = of("depthwise");
      // The depthwise model's time less its 1x1 convolutions' at the pointwise speed.
      const rest = ms.depthwise! - dw.flops.pointwise! / 1e6 / s.byOperator.pointwise!;
      expect(s.byOperator.depthwise).toBeCloseTo(dw.flops.depthwise! / 1e6 / rest, 6);
    }
  });
});
