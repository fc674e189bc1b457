// How fast onnxruntime runs DNN layers on this host, in the planner's unit: what a node's
// `compute.gflops` must say for `flops / gflops` to predict the layers' time on this runtime.
import { SegmentModel } from "./session.js";

export interface OnnxSpeedOptions {
  /** onnxruntime's intra-op threads (the cores a task may use). @defaultValue 1 */
  threads?: number;
  /** How long to keep running it, after one untimed run that lets onnxruntime plan and allocate. @defaultValue 400 */
  durationMs?: number;
}

export interface OnnxSpeed {
  /** `flops` / the median run time, in 10^9 operations per second. */
  gflops: number;
  /** Median run time, ms. */
  medianMs: number;
  /** Timed runs. */
  runs: number;
  threads: number;
}

/**
 * Runs `model` (one float32 input with fixed dims) with onnxruntime's CPU provider for about
 * `durationMs` and divides `flops` (as the model's layer table counts them: 2 × multiply-adds) by
 * the median run. The median, not the mean: a host's other work stretches some runs, not the
 * typical one.
 */
export async function measureOnnxSpeed(model: Uint8Array, flops: number, o: OnnxSpeedOptions = {}): Promise<OnnxSpeed> {
  const threads = Math.max(1, Math.floor(o.threads ?? 1));
  const durationMs = o.durationMs ?? 400;
  const m = await SegmentModel.load(model, { threads, what: "calibration model" });
  try {
    const elements = m.inputElements;
    if (elements === undefined) throw new Error("the calibration model's input has an open dimension");
    const input = { shape: m.input.dims as number[], data: new Float32Array(elements).fill(0.1) };
    await m.run(input);
    const times: number[] = [];
    const start = performance.now();
    do {
      const t0 = performance.now();
      await m.run(input);
      times.push(performance.now() - t0);
    } while (performance.now() - start < durationMs || times.length < 3);
    times.sort((a, b) => a - b);
    const medianMs = times[Math.floor(times.length / 2)]!;
    return { gflops: flops / 1e6 / medianMs, medianMs, runs: times.length, threads };
  } finally {
    await m.release();
  }
}
