import type { FilterPlugin } from "../framework/types.js";
import { pathInto, type NetworkPath } from "../snapshot/network.js";

/**
 * A task bound to data (a federated participant) must run on a node holding it; a task fed by
 * origins (a trainer, an aggregator) must be reachable from each of them through the node tree.
 */
export const dataLocality: FilterPlugin = {
  name: "DataLocality",
  prepare(snapshot, task) {
    const holders = task.dataNodes ? new Set(task.dataNodes.map((n) => snapshot.nodeIndex(n))) : undefined;
    const origins = (task.origins?.nodes ?? []).map((n) => snapshot.nodeIndex(n));
    if (!holders && origins.length === 0) return undefined;
    const path: NetworkPath = { bandwidthMbps: 0, rttMs: 0, hops: 0 };
    return {
      reason(i) {
        if (holders && !holders.has(i)) return "node(s) didn't hold the task's data";
        for (const o of origins) {
          if (o < 0 || !pathInto(snapshot, o, i, path)) return "node(s) were unreachable from the task's data";
        }
        return undefined;
      },
    };
  },
};
