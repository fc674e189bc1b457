const BARS = "▁▂▃▄▅▆▇█";

/**
 * A terminal sparkline of `values` (oldest first), at most `width` characters: longer series are
 * resampled by averaging buckets. Flat series draw at mid height; missing values as spaces.
 */
export function sparkline(values: ReadonlyArray<number | undefined>, width = 60): string {
  const n = values.length;
  if (n === 0) return "";
  const cells = Math.min(width, n);
  const points: Array<number | undefined> = [];
  for (let c = 0; c < cells; c++) {
    const from = Math.floor((c * n) / cells);
    const to = Math.max(from + 1, Math.floor(((c + 1) * n) / cells));
    const bucket = values.slice(from, to).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
    points.push(bucket.length ? bucket.reduce((a, b) => a + b, 0) / bucket.length : undefined);
  }
  const present = points.filter((v): v is number => v !== undefined);
  const lo = Math.min(...present);
  const hi = Math.max(...present);
  return points
    .map((v) => {
      if (v === undefined) return " ";
      if (hi === lo) return BARS[3];
      return BARS[Math.min(BARS.length - 1, Math.floor(((v - lo) / (hi - lo)) * BARS.length))];
    })
    .join("");
}
