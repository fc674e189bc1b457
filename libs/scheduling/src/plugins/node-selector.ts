import type { FilterPlugin } from "../framework/types.js";

/** Every `nodeSelector` label must be on the node with the same value. */
export const nodeSelector: FilterPlugin = {
  name: "NodeSelector",
  prepare(snapshot, task) {
    const entries = Object.entries(task.nodeSelector ?? {});
    if (entries.length === 0) return undefined;
    const nodes = snapshot.nodes;
    const matches = (i: number) => {
      const labels = nodes[i]!.labels;
      for (const [k, v] of entries) if (labels[k] !== v) return false;
      return true;
    };
    return {
      reason: (i) => (matches(i) ? undefined : "node(s) didn't match node selector"),
      keep(list, count) {
        let w = 0;
        for (let k = 0; k < count; k++) {
          const i = list[k]!;
          if (matches(i)) list[w++] = i;
        }
        return w;
      },
    };
  },
};
