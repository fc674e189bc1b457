import type { FilterPlugin } from "../framework/types.js";

/**
 * cpu, memory (the task's request already includes the memory of the layers it runs) and gpu must
 * fit in capacity minus allocation, and the node needs a free task slot when it has a limit
 * (Kubernetes' "Too many pods"). As in Kubernetes, a dimension the task does not request is not
 * checked, so a zero request fits even an over-committed node.
 */
export const resourceFit: FilterPlugin = {
  name: "ResourceFit",
  dependsOnAllocation: true,
  prepare(snapshot, task) {
    const { cpu, memoryMiB, gpu } = task.resources;
    const slots = snapshot.hasTaskLimits;
    if (!(cpu > 0 || memoryMiB > 0 || gpu > 0 || slots)) return undefined;
    const a = snapshot.allocated;
    const c = snapshot.capacity;
    // Requests of 0 become -Infinity limits, so the hot loop compares without branching on them.
    const cpuReq = cpu > 0 ? cpu : -Infinity;
    const memReq = memoryMiB > 0 ? memoryMiB : -Infinity;
    const gpuReq = gpu > 0 ? gpu : -Infinity;
    return {
      reason(i) {
        if (a.cpu[i]! + cpuReq > c.cpu[i]! + 1e-9) return "Insufficient cpu";
        if (a.memoryMiB[i]! + memReq > c.memoryMiB[i]! + 1e-9) return "Insufficient memory";
        if (a.gpu[i]! + gpuReq > c.gpu[i]! + 1e-9) return "Insufficient gpu";
        if (slots && !snapshot.hasTaskSlots(i)) return "Too many tasks";
        return undefined;
      },
      keep(list, count) {
        const ac = a.cpu;
        const am = a.memoryMiB;
        const ag = a.gpu;
        const cc = c.cpu;
        const cm = c.memoryMiB;
        const cg = c.gpu;
        let w = 0;
        for (let k = 0; k < count; k++) {
          const i = list[k]!;
          if (ac[i]! + cpuReq <= cc[i]! + 1e-9 && am[i]! + memReq <= cm[i]! + 1e-9 && ag[i]! + gpuReq <= cg[i]! + 1e-9 && (!slots || snapshot.hasTaskSlots(i))) list[w++] = i;
        }
        return w;
      },
    };
  },
};
