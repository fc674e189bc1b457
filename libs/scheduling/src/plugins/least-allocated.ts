import type { ScorePlugin } from "../framework/types.js";

/**
 * Spreads work: the mean over cpu and memory of the share left free after placing the task,
 * times 100 (kube-scheduler's LeastAllocated). A resource the node does not have scores 0.
 */
export const leastAllocated: ScorePlugin = {
  name: "LeastAllocated",
  prepare(snapshot, task) {
    const { cpu, memoryMiB } = task.resources;
    const a = snapshot.allocated;
    const capCpu = snapshot.capacity.cpu;
    const capMem = snapshot.capacity.memoryMiB;
    const ac = a.cpu;
    const am = a.memoryMiB;
    return (list, count, out) => {
      for (let k = 0; k < count; k++) {
        const i = list[k]!;
        const cc = capCpu[i]!;
        const cm = capMem[i]!;
        const c = cc > 0 ? Math.max(0, cc - ac[i]! - cpu) / cc : 0;
        const m = cm > 0 ? Math.max(0, cm - am[i]! - memoryMiB) / cm : 0;
        out[k] = 50 * (c + m);
      }
    };
  },
};
