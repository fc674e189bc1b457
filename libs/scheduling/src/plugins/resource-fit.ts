import type { FilterPlugin } from "../framework/types.js";

/**
 * cpu, memory (the task's request already includes the memory of the layers it runs) and gpu must
 * fit in capacity minus allocation. As in Kubernetes, a dimension the task does not request is not
 * checked, so a zero request fits even an over-committed node.
 */
export const resourceFit: FilterPlugin = {
  name: "ResourceFit",
  dependsOnAllocation: true,
  prepare(snapshot, task) {
    const { cpu, memoryMiB, gpu } = task.resources;
    if (!(cpu > 0 || memoryMiB > 0 || gpu > 0)) return undefined;
    const nodes = snapshot.nodes;
    const a = snapshot.allocated;
    return (i) => {
      const cap = nodes[i]!.capacity;
      if (cpu > 0 && a.cpu[i]! + cpu > cap.cpu + 1e-9) return "Insufficient cpu";
      if (memoryMiB > 0 && a.memoryMiB[i]! + memoryMiB > cap.memoryMiB + 1e-9) return "Insufficient memory";
      if (gpu > 0 && a.gpu[i]! + gpu > cap.gpu + 1e-9) return "Insufficient gpu";
      return undefined;
    };
  },
};
