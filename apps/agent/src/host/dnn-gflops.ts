// The node's speed as its DNN runtime sees it: onnxruntime running graphs of the shapes the
// reference models are made of (libs/onnx calibration models), one per operator class, divided
// into their flops as the model's layer tables count them.
import type { GflopsByOperator } from "@eiaas/api";
import { calibrationModels, speedsFromTimes, type CalibrationModel } from "@eiaas/onnx";
import { measureOnnxSpeed } from "@eiaas/serving";
import { measureGflops, twoSignificant } from "./gflops.js";

export interface HostSpeed {
  gflops: number;
  /** Speeds of the operator classes that differ from `gflops` (absent on the fallback). */
  gflopsByOperator?: GflopsByOperator;
  /** How it was measured, for the agent's log. */
  source: string;
  /** Why the preferred measurement could not be made (the fallback was used). */
  problem?: string;
}

const total = (m: CalibrationModel) => Object.values(m.flops).reduce((a, b) => a + (b ?? 0), 0);

/**
 * `compute.gflops` and `compute.gflopsByOperator` for a node whose operator set neither:
 * onnxruntime's speed on `threads` threads (the runtime that executes the plans' layers) for
 * k×k convolutions, 1×1 ones, depthwise ones, matrix multiplies and LRN, so that the planner's
 * estimate predicts what the node's serving tasks will measure. Where onnxruntime cannot run (no
 * binary for the platform), a plain JavaScript matrix multiply — far slower than a DNN runtime,
 * and said so.
 */
export async function measureHostSpeed(threads: number, o: { durationMs?: number; onnx?: typeof measureOnnxSpeed } = {}): Promise<HostSpeed> {
  const plural = threads === 1 ? "" : "s";
  try {
    const models = calibrationModels();
    const medianMs: Partial<Record<CalibrationModel["measures"], number>> = {};
    let runs = 0;
    for (const m of models) {
      const s = await (o.onnx ?? measureOnnxSpeed)(m.bytes, total(m), { threads, ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}) });
      medianMs[m.measures] = s.medianMs;
      runs += s.runs;
    }
    const speeds = speedsFromTimes(models, medianMs);
    const byOperator: GflopsByOperator = {};
    for (const [k, v] of Object.entries(speeds.byOperator) as [keyof GflopsByOperator, number][]) byOperator[k] = twoSignificant(v);
    const general = models[0]!.flops.general!;
    return {
      gflops: twoSignificant(speeds.gflops),
      gflopsByOperator: byOperator,
      source: `onnxruntime on ${threads} thread${plural}: 3x3 convolutions (${(general / 1e9).toFixed(2)} GFLOP), 1x1 and depthwise convolutions, a 4096x4096 matrix multiply, local response normalization; medians of ${runs} runs`,
    };
  } catch (err) {
    const m = await measureGflops({ threads, ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}) });
    return {
      gflops: m.gflops,
      source: `fp32 matrix multiply in JavaScript on ${threads} thread${plural}`,
      problem: `onnxruntime could not be timed (${(err as Error).message.split("\n")[0]}): compute.gflops is a JavaScript multiply's, far below a DNN runtime's; set it (--gflops) where predictions matter`,
    };
  }
}
