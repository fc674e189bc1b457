import type { ScorePlugin } from "../framework/types.js";

/**
 * Prefers nodes whose cpu and memory would be used in equal shares, so neither is stranded:
 * (1 − standard deviation of the two utilisations) · 100 (kube-scheduler's
 * NodeResourcesBalancedAllocation; for two values the deviation is half their difference).
 */
export const balancedAllocation: ScorePlugin = {
  name: "BalancedAllocation",
  prepare(snapshot, task) {
    const { cpu, memoryMiB } = task.resources;
    const nodes = snapshot.nodes;
    const a = snapshot.allocated;
    return (i) => {
      const cap = nodes[i]!.capacity;
      const fc = cap.cpu > 0 ? Math.min(1, (a.cpu[i]! + cpu) / cap.cpu) : 1;
      const fm = cap.memoryMiB > 0 ? Math.min(1, (a.memoryMiB[i]! + memoryMiB) / cap.memoryMiB) : 1;
      return 100 * (1 - Math.abs(fc - fm) / 2);
    };
  },
};
