import type { FilterPlugin } from "../framework/types.js";

/** Every `nodeSelector` label must be on the node with the same value. */
export const nodeSelector: FilterPlugin = {
  name: "NodeSelector",
  prepare(snapshot, task) {
    const entries = Object.entries(task.nodeSelector ?? {});
    if (entries.length === 0) return undefined;
    // Count, per node, the selector's labels it carries (from the snapshot's label index); a node
    // matches when it carries all of them.
    const hits = new Uint16Array(snapshot.nodes.length);
    for (const [k, v] of entries) for (const i of snapshot.nodesWithLabel(k, v)) hits[i]!++;
    const want = entries.length;
    return {
      reason: (i) => (hits[i] === want ? undefined : "node(s) didn't match node selector"),
      keep(list, count) {
        let w = 0;
        for (let k = 0; k < count; k++) {
          const i = list[k]!;
          if (hits[i] === want) list[w++] = i;
        }
        return w;
      },
    };
  },
};
