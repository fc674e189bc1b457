// The bench's table and its targets (issue 20): prediction error (median over cases) ≤ 20% from
// flops alone and ≤ 10% after profiling; the planned split within 10% of the best split measured
// in the same run in ≥ 90% of cases.
import { median } from "./client.js";

export interface CaseRow {
  model: string;
  mbps: number;
  objective: "latency" | "energy";
  /** The planner's split from flops alone, then with the measured profile. */
  flopsSplit: number;
  profiledSplit: number;
  layers: number;
  predictedFlopsMs: number;
  predictedProfiledMs: number;
  /** Measured median end-to-end latency of the splits above (ms) and their request counts. */
  measuredFlopsMs: number;
  measuredProfiledMs: number;
  requests: number;
  deviceOnlyMs: number;
  edgeOnlyMs: number;
  /** The best split measured for the objective (latency, or device energy from measured times). */
  bestSplit: number;
  bestMs: number;
  /** The objective's measured value of the profiled choice and of the best split. */
  chosenScore: number;
  bestScore: number;
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const err = (pred: number, meas: number) => Math.abs(pred - meas) / meas;

export function printReport(rows: CaseRow[]): void {
  const head = [
    "model",
    "Mbit/s",
    "objective",
    "split flops→prof (of n)",
    "pred flops",
    "pred prof",
    "measured",
    "n",
    "device-only",
    "edge-only",
    "best split (ms)",
    "err flops",
    "err prof",
    "within 10%",
  ];
  const lines = rows.map((r) => [
    r.model,
    String(r.mbps),
    r.objective,
    `${r.flopsSplit} → ${r.profiledSplit} (of ${r.layers})`,
    ms(r.predictedFlopsMs),
    ms(r.predictedProfiledMs),
    ms(r.measuredProfiledMs),
    String(r.requests),
    ms(r.deviceOnlyMs),
    ms(r.edgeOnlyMs),
    `${r.bestSplit} (${ms(r.bestMs)})`,
    pct(err(r.predictedFlopsMs, r.measuredFlopsMs)),
    pct(err(r.predictedProfiledMs, r.measuredProfiledMs)),
    r.chosenScore <= 1.1 * r.bestScore ? "yes" : "no",
  ]);
  console.log(`| ${head.join(" | ")} |`);
  console.log(`|${head.map(() => "---").join("|")}|`);
  for (const l of lines) console.log(`| ${l.join(" | ")} |`);

  const flopsErr = median(rows.map((r) => err(r.predictedFlopsMs, r.measuredFlopsMs)));
  const profErr = median(rows.map((r) => err(r.predictedProfiledMs, r.measuredProfiledMs)));
  const within = rows.filter((r) => r.chosenScore <= 1.1 * r.bestScore).length / rows.length;
  console.log("");
  console.log(
    `prediction error, median over ${rows.length} cases: flops alone ${pct(flopsErr)} (target ≤ 20%: ${flopsErr <= 0.2 ? "met" : "NOT met"}), after profiling ${pct(profErr)} (target ≤ 10%: ${profErr <= 0.1 ? "met" : "NOT met"})`,
  );
  console.log(`planned split (after profiling) within 10% of the best measured: ${pct(within)} of cases (target ≥ 90%: ${within >= 0.9 ? "met" : "NOT met"})`);
}
