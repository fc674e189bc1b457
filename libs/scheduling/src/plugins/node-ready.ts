import type { FilterPlugin } from "../framework/types.js";

/** Nodes must be Ready and not cordoned (`spec.unschedulable`). */
export const nodeReady: FilterPlugin = {
  name: "NodeReady",
  prepare(snapshot) {
    const schedulable = snapshot.schedulable;
    const nodes = snapshot.nodes;
    return {
      reason: (i) => (schedulable[i] === 1 ? undefined : nodes[i]!.ready ? "node(s) were unschedulable" : "node(s) were not ready"),
      keep(list, count) {
        let w = 0;
        for (let k = 0; k < count; k++) {
          const i = list[k]!;
          if (schedulable[i] === 1) list[w++] = i;
        }
        return w;
      },
    };
  },
};
