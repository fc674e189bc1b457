import type { ScorePlugin } from "../framework/types.js";
import { pathInto, serializationMs, type NetworkPath } from "../snapshot/network.js";
import { normalizeLowerIsBetter } from "./normalize.js";

/**
 * Prefers nodes that cost the sending devices the least radio energy: Σ over origins of
 * transmitW · 8·D/(B·1000) (mJ), as in the device-energy formula of design.md §5. Normalised over the
 * feasible nodes, cheapest = 100.
 */
export const deviceEnergy: ScorePlugin = {
  name: "DeviceEnergy",
  prepare(snapshot, task) {
    const origins = (task.origins?.nodes ?? []).map((n) => snapshot.nodeIndex(n)).filter((i) => i >= 0);
    const bytes = task.origins?.bytes ?? 0;
    if (origins.length === 0 || !(bytes > 0)) return undefined;
    const nodes = snapshot.nodes;
    const path: NetworkPath = { bandwidthMbps: 0, rttMs: 0, hops: 0 };
    return (list, count, out) => {
      for (let k = 0; k < count; k++) {
        const i = list[k]!;
        let mj = 0;
        for (const o of origins) {
          if (!pathInto(snapshot, o, i, path)) {
            mj = Infinity;
            break;
          }
          if (path.hops > 0) mj += nodes[o]!.power.transmitW * serializationMs(bytes, path.bandwidthMbps);
        }
        out[k] = mj;
      }
    };
  },
  normalize: normalizeLowerIsBetter,
};
