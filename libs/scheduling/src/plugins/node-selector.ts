import type { FilterPlugin } from "../framework/types.js";

/** Every `nodeSelector` label must be on the node with the same value. */
export const nodeSelector: FilterPlugin = {
  name: "NodeSelector",
  prepare(snapshot, task) {
    const entries = Object.entries(task.nodeSelector ?? {});
    if (entries.length === 0) return undefined;
    const nodes = snapshot.nodes;
    return (i) => {
      const labels = nodes[i]!.labels;
      for (const [k, v] of entries) {
        if (labels[k] !== v) return "node(s) didn't match node selector";
      }
      return undefined;
    };
  },
};
