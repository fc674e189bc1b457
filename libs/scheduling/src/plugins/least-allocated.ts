import type { ScorePlugin } from "../framework/types.js";

/**
 * Spreads work: the mean over cpu and memory of the share left free after placing the task,
 * times 100 (kube-scheduler's LeastAllocated). A resource the node does not have scores 0.
 */
export const leastAllocated: ScorePlugin = {
  name: "LeastAllocated",
  prepare(snapshot, task) {
    const { cpu, memoryMiB } = task.resources;
    const nodes = snapshot.nodes;
    const a = snapshot.allocated;
    return (i) => {
      const cap = nodes[i]!.capacity;
      const c = cap.cpu > 0 ? Math.max(0, cap.cpu - a.cpu[i]! - cpu) / cap.cpu : 0;
      const m = cap.memoryMiB > 0 ? Math.max(0, cap.memoryMiB - a.memoryMiB[i]! - memoryMiB) / cap.memoryMiB : 0;
      return 50 * (c + m);
    };
  },
};
