// The node's compute speed, measured: what fills `compute.gflops` when the operator set none.
import { Worker } from "node:worker_threads";

export interface GflopsOptions {
  /** Threads run at once, one per core the agent may use. @defaultValue 1 */
  threads?: number;
  /** How long each thread multiplies, after one untimed multiply that gets the code compiled. @defaultValue 300 */
  durationMs?: number;
  /** Matrix order. @defaultValue 192 (three 144 KiB fp32 matrices: within a core's L2 on most CPUs) */
  n?: number;
}

export interface GflopsMeasurement {
  /** Floating-point operations per second over all threads, in units of 10^9, two significant figures. */
  gflops: number;
  threads: number;
  /** Multiplies timed over all threads. */
  multiplies: number;
}

// Plain JavaScript (the worker is evaluated, not loaded through tsx). A blocked i-k-j fp32 multiply
// C = A·B: 2·n³ operations, one multiply and one add per multiply-add, as model layers count theirs.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { n, durationMs } = workerData;
const BS = 64;
const a = new Float32Array(n * n), b = new Float32Array(n * n), c = new Float32Array(n * n);
for (let i = 0; i < n * n; i++) { a[i] = (i % 7) * 0.25; b[i] = (i % 5) * 0.5; }
function multiply() {
  c.fill(0);
  for (let ii = 0; ii < n; ii += BS) for (let kk = 0; kk < n; kk += BS) for (let jj = 0; jj < n; jj += BS) {
    const iEnd = Math.min(ii + BS, n), kEnd = Math.min(kk + BS, n), jEnd = Math.min(jj + BS, n);
    for (let i = ii; i < iEnd; i++) {
      const ci = i * n;
      for (let k = kk; k < kEnd; k++) {
        const aik = a[ci + k], bk = k * n;
        for (let j = jj; j < jEnd; j++) c[ci + j] += aik * b[bk + j];
      }
    }
  }
}
multiply();
const start = performance.now();
let runs = 0;
do { multiply(); runs++; } while (performance.now() - start < durationMs);
parentPort.postMessage({ operations: 2 * n * n * n * runs, ms: performance.now() - start, runs, sample: c[n + 1] });
`;

/** `x` to two significant figures: a figure that is as precise as the measurement, and stable across restarts. */
export function twoSignificant(x: number): number {
  return x > 0 ? Number(x.toPrecision(2)) : 0;
}

/**
 * Measures the node's fp32 speed as the planner uses it. The planner predicts a layer's time as
 * `flops / (compute.gflops · 10^6)` ms, `flops` being 2 × its multiply-adds
 * (deploy/examples/REFERENCE-DATA.md); this runs `threads` blocked matrix multiplies in parallel
 * (one per core the agent may use, each in a worker thread) for `durationMs` and returns their
 * summed rate in the same unit (2·n³ operations per multiply).
 *
 * It is a floor, not a DNN runtime's speed: scalar JavaScript without SIMD reaches a fraction of
 * what an optimised runtime (oneDNN, TensorRT, a GPU) does on the same cores — often 5–20× less on
 * a CPU, and it sees no GPU at all. It makes a node schedulable with a speed of the right order
 * among nodes measured the same way; where predictions matter, set `compute.gflops` from a model
 * benchmark (REFERENCE-DATA.md shows how) or give the Model a measured profile for the hardware.
 * A busy host measures slower: what the agent's cores deliver at the time.
 */
export async function measureGflops(o: GflopsOptions = {}): Promise<GflopsMeasurement> {
  const threads = Math.max(1, Math.floor(o.threads ?? 1));
  const workerData = { n: o.n ?? 192, durationMs: o.durationMs ?? 300 };
  const results = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<{ operations: number; ms: number; runs: number }>((resolve, reject) => {
          const w = new Worker(WORKER, { eval: true, workerData });
          w.once("message", (m) => {
            resolve(m);
            void w.terminate();
          });
          w.once("error", reject);
          w.once("exit", (code) => reject(new Error(`the benchmark thread exited (${code}) before reporting`)));
        }),
    ),
  );
  const perSecond = results.reduce((sum, r) => sum + r.operations / (r.ms / 1000), 0);
  return { gflops: twoSignificant(perSecond / 1e9), threads, multiplies: results.reduce((s, r) => s + r.runs, 0) };
}
