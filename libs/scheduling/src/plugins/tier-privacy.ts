import type { FilterPlugin } from "../framework/types.js";
import { tierBit } from "../snapshot/node.js";

/**
 * The node's tier must be one the task allows, and a task that receives raw data must stay inside
 * the data's privacy boundary: `device` keeps it on the node it came from, `edge` keeps it off cloud
 * nodes, `cloud` allows all (design.md §5).
 */
export const tierPrivacy: FilterPlugin = {
  name: "TierPrivacy",
  prepare(snapshot, task) {
    const tiers = task.tiers;
    const raw = task.rawData;
    if (!tiers && (!raw || raw.boundary === "cloud")) return undefined;
    let mask = 7;
    if (tiers) {
      mask = 0;
      for (const t of tiers) mask |= tierBit(t);
    }
    const bits = snapshot.tierBits;
    const boundary = raw?.boundary ?? "cloud";
    const sources = new Set<number>((raw?.from ?? []).map((n) => snapshot.nodeIndex(n)));
    const cloud = tierBit("cloud");
    const reason = (i: number) => {
      if ((bits[i]! & mask) === 0) return "node(s) had a tier the task does not allow";
      if (boundary === "device" && !sources.has(i)) return "node(s) were outside the raw-data privacy boundary (device)";
      if (boundary === "edge" && bits[i] === cloud) return "node(s) were outside the raw-data privacy boundary (edge)";
      return undefined;
    };
    return {
      reason,
      keep(list, count) {
        let w = 0;
        for (let k = 0; k < count; k++) {
          const i = list[k]!;
          if (reason(i) === undefined) list[w++] = i;
        }
        return w;
      },
    };
  },
};
