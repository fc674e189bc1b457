import type { Model } from "./models.js";
import type { Rng } from "./rng.js";
import type { Dataset } from "./synthetic.js";

/**
 * Mini-batches without replacement: a shuffled order of the shard walked batch by batch, shuffled
 * again at each epoch's end. Kept by a participant across rounds, so τ small steps a round still
 * visit the whole shard over rounds.
 */
export class BatchSampler {
  private readonly order: Int32Array;
  private cursor: number;

  constructor(
    readonly rows: number,
    private readonly rng: Rng,
  ) {
    this.order = Int32Array.from({ length: rows }, (_, i) => i);
    this.rng.shuffle(this.order);
    this.cursor = 0;
  }

  next(batchSize: number): Int32Array {
    const size = Math.min(batchSize, this.rows);
    if (this.cursor + size > this.rows) {
      this.rng.shuffle(this.order);
      this.cursor = 0;
    }
    const batch = this.order.subarray(this.cursor, this.cursor + size);
    this.cursor += size;
    return batch;
  }
}

export interface SgdOptions {
  steps: number;
  learningRate: number;
  batchSize: number;
}

/**
 * τ steps of mini-batch SGD from `start` (left as it is). Returns the local model and the mean
 * mini-batch loss of the steps. `yieldEvery` steps it awaits `pause` (the caller's event loop
 * breathes: an agent runs its tasks in its own process).
 */
export async function localSgd(
  model: Model,
  start: Float64Array,
  data: Dataset,
  sampler: BatchSampler,
  o: SgdOptions,
  pause?: () => Promise<void>,
  yieldEvery = 50,
): Promise<{ w: Float64Array; meanBatchLoss: number }> {
  const w = Float64Array.from(start);
  const grad = new Float64Array(model.size);
  let total = 0;
  for (let s = 0; s < o.steps; s++) {
    total += model.lossAndGrad(w, data, sampler.next(o.batchSize), grad);
    for (let i = 0; i < w.length; i++) w[i] = w[i]! - o.learningRate * grad[i]!;
    if (pause && (s + 1) % yieldEvery === 0) await pause();
  }
  return { w, meanBatchLoss: o.steps > 0 ? total / o.steps : 0 };
}
