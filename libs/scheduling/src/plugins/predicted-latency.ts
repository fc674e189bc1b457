import type { ScorePlugin } from "../framework/types.js";
import { pathInto, transferMs, type NetworkPath } from "../snapshot/network.js";
import { computeMs } from "../cost/chains.js";
import { normalizeLowerIsBetter } from "./normalize.js";

/**
 * Prefers nodes where the task's input arrives and is computed soonest: the slowest origin's
 * transfer of `origins.bytes` (8·D/(B·1000) + RTT) plus `flops / gflops`. Normalised over the
 * feasible nodes, fastest = 100.
 */
export const predictedLatency: ScorePlugin = {
  name: "PredictedLatency",
  prepare(snapshot, task) {
    const origins = (task.origins?.nodes ?? []).map((n) => snapshot.nodeIndex(n)).filter((i) => i >= 0);
    const bytes = task.origins?.bytes ?? 0;
    const flops = task.flops ?? 0;
    if (origins.length === 0 && !(flops > 0)) return undefined;
    const nodes = snapshot.nodes;
    const path: NetworkPath = { bandwidthMbps: 0, rttMs: 0, hops: 0 };
    return (list, count, out) => {
      for (let k = 0; k < count; k++) {
        const i = list[k]!;
        let worst = 0;
        for (const o of origins) {
          const t = pathInto(snapshot, o, i, path) ? transferMs(bytes, path.bandwidthMbps, path.rttMs) : Infinity;
          if (t > worst) worst = t;
        }
        out[k] = worst + (flops > 0 ? computeMs(flops, nodes[i]!.gflops) : 0);
      }
    };
  },
  normalize: normalizeLowerIsBetter,
};
