import type { FilterPlugin } from "../framework/types.js";

/** Nodes must be Ready and not cordoned (`spec.unschedulable`). */
export const nodeReady: FilterPlugin = {
  name: "NodeReady",
  prepare(snapshot) {
    const schedulable = snapshot.schedulable;
    const nodes = snapshot.nodes;
    return (i) => {
      if (schedulable[i] === 1) return undefined;
      return nodes[i]!.ready ? "node(s) were unschedulable" : "node(s) were not ready";
    };
  },
};
