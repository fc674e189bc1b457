import type { FilterPlugin } from "../framework/types.js";

/**
 * A server's busy fraction (Σ over the clients whose layers it runs of rps · Σ T_srv / 1000) must
 * stay ≤ 1, or ≤ its gpu count when it has GPUs (design.md §5).
 */
export const serverLoad: FilterPlugin = {
  name: "ServerLoad",
  dependsOnAllocation: true,
  prepare(snapshot, task) {
    const load = task.load ?? 0;
    if (!(load > 0)) return undefined;
    return {
      reason: (i) => (snapshot.fitsLoad(i, load) ? undefined : "node(s) would be overloaded"),
      keep(list, count) {
        let w = 0;
        for (let k = 0; k < count; k++) {
          const i = list[k]!;
          if (snapshot.fitsLoad(i, load)) list[w++] = i;
        }
        return w;
      },
    };
  },
};
