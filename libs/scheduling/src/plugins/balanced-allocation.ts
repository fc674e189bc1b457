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
        const fc = cc > 0 ? Math.min(1, (ac[i]! + cpu) / cc) : 1;
        const fm = cm > 0 ? Math.min(1, (am[i]! + memoryMiB) / cm) : 1;
        out[k] = 100 * (1 - Math.abs(fc - fm) / 2);
      }
    };
  },
};
