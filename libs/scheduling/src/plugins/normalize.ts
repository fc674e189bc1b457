/**
 * Maps raw "lower is better" values to 0–100: the lowest gets 100, the highest 0, linearly between;
 * non-finite values get 0; when all finite values are equal they all get 100.
 */
export function normalizeLowerIsBetter(scores: Float64Array, count: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let k = 0; k < count; k++) {
    const v = scores[k]!;
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max - min;
  for (let k = 0; k < count; k++) {
    const v = scores[k]!;
    if (!Number.isFinite(v)) scores[k] = 0;
    else scores[k] = span > 0 ? (100 * (max - v)) / span : 100;
  }
}
