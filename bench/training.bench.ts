// `npm run bench:training`: issue 21's targets on this machine, in one run —
//  1. convergence: FedAvg on Synthetic(0.5, 0.5) with 10 participants against centralized SGD of
//     the same model on the union of their shards (held-out accuracy within 2 points);
//  2. adaptive τ (Wang et al., JSAC 2019) under one resource budget against fixed τ in
//     {1, 2, 5, 10, 20, 50}: final training loss no worse than the best fixed τ by more than 5%,
//     and better than τ = 1;
//  3. compression: top-k (10%) and int8 against none, bytes of an update body (our framing
//     included) and held-out accuracy after the same number of rounds (≥ 4× fewer bytes, accuracy
//     within 1 point); then the same with the real runtime over a socket, HTTP headers shown apart;
//  4. the control plane's share of a round with the real runtime over HTTP at 50 participants (≤ 50 ms).
// Rounds 1-3 use libs/training's code in one process (the runtime's math without the network);
// the budget of 2 is a cost model (seconds per local step and per aggregation), so the comparison
// does not depend on how busy the machine is. Options: BENCH_ROUNDS (default 300).
import { cpus } from "node:os";
import { concat, createModel, generateShard, generateTestSplit, SYNTHETIC_CLASSES, SYNTHETIC_FEATURES, type SyntheticSpec } from "@eiaas/training";
import { REPORT_HEADER_BYTES } from "@eiaas/runtime";
import { measureOverhead } from "./training/overhead.js";
import { centralized, simulate } from "./training/simulate.js";
import { measureWire } from "./training/wire-bytes.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
const data: SyntheticSpec = { name: "synthetic", alpha: 0.5, beta: 0.5, seed: "bench-training", maxSamples: 2000 };
const names = Array.from({ length: 10 }, (_, i) => `device-${i}`);
const shards = names.map((n) => generateShard(data, n));
const test = generateTestSplit(data, names);
const model = createModel({ kind: "logreg", features: SYNTHETIC_FEATURES, classes: SYNTHETIC_CLASSES });
const lr = 0.01;
const batch = 10;

console.log(`Training benchmark (this machine: ${cpus().length} cores, ${cpus()[0]?.model ?? "?"}, Node ${process.version})`);
console.log(
  `Synthetic(0.5, 0.5), 10 participants, ${shards.reduce((s, d) => s + d.rows, 0)} samples (shards ${shards.map((d) => d.rows).join(", ")}), held-out ${test.rows}; logistic regression, η ${lr}, batch ${batch}\n`,
);

// 1. Convergence
const central = await centralized(model, concat(shards), test, { learningRate: lr, batchSize: batch, epochs: 30 });
const fed = await simulate({ model, shards, test, learningRate: lr, batchSize: batch, tau: 20, rounds: ROUNDS });
const gap = central.accuracy - fed.accuracy;
console.log("1. Convergence (held-out accuracy)");
console.log(`   centralized SGD, 30 epochs:            ${pct(central.accuracy)} (training loss ${central.trainLoss.toFixed(4)})`);
console.log(`   FedAvg, τ 20, ${fed.rounds} rounds:             ${pct(fed.accuracy)} (training loss ${fed.trainLoss.toFixed(4)})`);
console.log(`   gap ${(100 * gap).toFixed(1)} points — target ≤ 2: ${verdict(gap <= 0.02)}\n`);

// 2. Adaptive τ under one budget
const costs = { stepSeconds: 0.02, aggregationSeconds: 0.5, budgetSeconds: 60 };
console.log(`2. Adaptive τ (budget ${costs.budgetSeconds} s; a local step ${costs.stepSeconds} s, an aggregation ${costs.aggregationSeconds} s)`);
const fixed: Array<{ tau: number; loss: number; rounds: number }> = [];
for (const tau of [1, 2, 5, 10, 20, 50]) {
  const r = await simulate({ model, shards, test, learningRate: lr, batchSize: batch, tau, costs });
  fixed.push({ tau, loss: r.trainLoss, rounds: r.rounds });
  console.log(`   fixed τ ${String(tau).padStart(2)}: ${String(r.rounds).padStart(3)} rounds, final training loss ${r.trainLoss.toFixed(4)}, accuracy ${pct(r.accuracy)}`);
}
const adaptive = await simulate({ model, shards, test, learningRate: lr, batchSize: batch, tau: "adaptive", costs, maxTau: 100 });
const best = fixed.reduce((a, b) => (b.loss < a.loss ? b : a));
const tau1 = fixed.find((f) => f.tau === 1)!;
console.log(
  `   adaptive:  ${String(adaptive.rounds).padStart(3)} rounds, final training loss ${adaptive.trainLoss.toFixed(4)}, accuracy ${pct(adaptive.accuracy)}, τ ${adaptive.taus[0]} → ${adaptive.taus[adaptive.taus.length - 1]} (mean ${(adaptive.taus.reduce((a, b) => a + b, 0) / adaptive.taus.length).toFixed(1)})`,
);
const within = adaptive.trainLoss <= best.loss * 1.05;
console.log(`   best fixed τ ${best.tau} (${best.loss.toFixed(4)}): adaptive within 5%: ${verdict(within)}; better than τ 1 (${tau1.loss.toFixed(4)}): ${verdict(adaptive.trainLoss < tau1.loss)}\n`);

// 3. Compression at the same number of rounds
const R3 = Math.min(ROUNDS, 100);
// An update as the aggregator counts it (`bytesUp`): the report's binary header and the update's frame.
const perUpdate = (r: { bytesUpPerRound: number }) => r.bytesUpPerRound / shards.length + REPORT_HEADER_BYTES;
console.log(`3. Compression (τ 20, ${R3} rounds): bytes of an update body (${REPORT_HEADER_BYTES}-byte report header + the update's frame)`);
const none = await simulate({ model, shards, test, learningRate: lr, batchSize: batch, tau: 20, rounds: R3 });
console.log(`   none:       ${perUpdate(none).toFixed(0)} B an update, accuracy ${pct(none.accuracy)}, training loss ${none.trainLoss.toFixed(4)}`);
for (const c of [{ type: "topk", ratio: 0.1 }, { type: "int8" }] as const) {
  const r = await simulate({ model, shards, test, learningRate: lr, batchSize: batch, tau: 20, rounds: R3, compression: c });
  const ratio = perUpdate(none) / perUpdate(r);
  const drop = none.accuracy - r.accuracy;
  console.log(
    `   ${(c.type === "topk" ? "top-k 10%" : "int8").padEnd(10)}  ${perUpdate(r).toFixed(0)} B an update (${ratio.toFixed(2)}× fewer: ${verdict(ratio >= 4)}), accuracy ${pct(r.accuracy)} (${(100 * drop).toFixed(1)} points below: ${verdict(drop <= 0.01)}), training loss ${r.trainLoss.toFixed(4)}`,
  );
}
// The same over a socket with the real runtime: the body the aggregator counts, and every byte a
// participant's sockets sent in a round (its model request and its update post, HTTP headers included).
console.log("   real runtime over HTTP (5 participants, 20 rounds, τ 20), per participant and round: update body / all bytes sent");
const wire = { none: await measureWire({ type: "none" }), topk: await measureWire({ type: "topk", ratio: 0.1 }), int8: await measureWire({ type: "int8" }) };
for (const [name, w] of Object.entries(wire)) {
  console.log(
    `   ${name.padEnd(10)}  ${w.bodyPerUpdate.toFixed(0)} B (${(wire.none.bodyPerUpdate / w.bodyPerUpdate).toFixed(2)}×) / ${w.socketPerRound.toFixed(0)} B (${(wire.none.socketPerRound / w.socketPerRound).toFixed(2)}×), accuracy ${pct(w.accuracy)}, loss ${w.loss.toFixed(4)}`,
  );
}
console.log("");

// 4. Overhead with the real runtime
const o = await measureOverhead(50, 12);
const sorted = [...o.overheadMs].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
const worst = sorted[sorted.length - 1] ?? NaN;
console.log("4. Control plane's share of a round, real runtime over HTTP, 50 participants in this process, τ 5");
console.log(
  `   last update → next round published: median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms over ${sorted.length} rounds (round wall time median ${[...o.wallSeconds].sort((a, b) => a - b)[Math.floor(o.wallSeconds.length / 2)]?.toFixed(3)} s) — target ≤ 50 ms: ${verdict(worst <= 50)}`,
);
