/** One participant's contribution to a round: its update (local − global) and its sample count. */
export interface WeightedUpdate {
  delta: Float64Array;
  samples: number;
}

/**
 * FedAvg (McMahan et al.): the new global model is the old one plus the updates averaged with
 * weights proportional to the participants' sample counts — the same as averaging their local
 * models with those weights. Without updates (or samples) the model stays.
 */
export function fedAvg(global: Float64Array, updates: readonly WeightedUpdate[]): Float64Array {
  const out = Float64Array.from(global);
  const total = updates.reduce((s, u) => s + u.samples, 0);
  if (total <= 0) return out;
  for (const u of updates) {
    const weight = u.samples / total;
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + weight * u.delta[i]!;
  }
  return out;
}

/** Σ nᵢ·vᵢ / Σ nᵢ of scalars (ρ, β, δ, losses). */
export function weightedMean(values: ReadonlyArray<{ value: number; samples: number }>): number {
  const total = values.reduce((s, v) => s + v.samples, 0);
  return total > 0 ? values.reduce((s, v) => s + v.value * v.samples, 0) / total : 0;
}
