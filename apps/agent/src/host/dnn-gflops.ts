// The node's speed as its DNN runtime sees it: onnxruntime running convolutions of the shapes the
// reference models are made of, divided into their flops as the model's layer tables count them.
import { GraphBuilder, importOnnxModel } from "@eiaas/onnx";
import { measureOnnxSpeed } from "@eiaas/serving";
import { measureGflops, twoSignificant } from "./gflops.js";

/**
 * Four 3×3 convolutions (with ReLU) over 64 channels at 56×56: ResNet-18's first stage, the
 * commonest shape in the reference models. 0.92 GFLOP a run; weights seeded (only speed matters).
 */
function calibrationModel(): Uint8Array {
  const g = new GraphBuilder("eiaas-calibration", { seed: 7 });
  let x = g.input("input", [1, 64, 56, 56]);
  for (let i = 0; i < 4; i++) x = g.relu(`block${i}/relu`, g.conv(`block${i}/conv`, x, { cin: 64, cout: 64, k: 3, pad: 1 }));
  return g.build(x, [1, 64, 56, 56]);
}

export interface HostSpeed {
  gflops: number;
  /** How it was measured, for the agent's log. */
  source: string;
  /** Why the preferred measurement could not be made (the fallback was used). */
  problem?: string;
}

/**
 * `compute.gflops` for a node whose operator set none: onnxruntime's speed on `threads` threads
 * (the runtime that executes the plans' layers), so that the planner's `flops / gflops` predicts
 * what the node's serving tasks will measure. Where onnxruntime cannot run (no binary for the
 * platform), a plain JavaScript matrix multiply — far slower than a DNN runtime, and said so.
 */
export async function measureHostSpeed(threads: number, o: { durationMs?: number; onnx?: typeof measureOnnxSpeed } = {}): Promise<HostSpeed> {
  const plural = threads === 1 ? "" : "s";
  try {
    const bytes = calibrationModel();
    const flops = importOnnxModel(bytes).layers.reduce((sum, l) => sum + l.flops, 0);
    const s = await (o.onnx ?? measureOnnxSpeed)(bytes, flops, { threads, ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}) });
    return { gflops: twoSignificant(s.gflops), source: `onnxruntime: 3x3 convolutions (${(flops / 1e9).toFixed(2)} GFLOP) on ${threads} thread${plural}, median of ${s.runs} runs` };
  } catch (err) {
    const m = await measureGflops({ threads, ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}) });
    return {
      gflops: m.gflops,
      source: `fp32 matrix multiply in JavaScript on ${threads} thread${plural}`,
      problem: `onnxruntime could not be timed (${(err as Error).message.split("\n")[0]}): compute.gflops is a JavaScript multiply's, far below a DNN runtime's; set it (--gflops) where predictions matter`,
    };
  }
}
