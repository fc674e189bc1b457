import type { FilterPlugin } from "../framework/types.js";

/**
 * cpu, memory (the task's request already includes the memory of the layers it runs) and gpu must
 * fit in capacity minus allocation, and the node needs a free task slot when it has a limit
 * (Kubernetes' "Too many pods"): the capacity rules of `snapshot/capacity.ts`, through the
 * snapshot's own fit functions. As in Kubernetes, a dimension the task does not request is not
 * checked, so a zero request fits even an over-committed node.
 */
export const resourceFit: FilterPlugin = {
  name: "ResourceFit",
  dependsOnAllocation: true,
  prepare(snapshot, task) {
    const { cpu, memoryMiB, gpu } = task.resources;
    if (!(cpu > 0 || memoryMiB > 0 || gpu > 0 || snapshot.hasTaskLimits)) return undefined;
    return {
      reason(i) {
        if (!snapshot.fits(i, cpu, 0, 0)) return "Insufficient cpu";
        if (!snapshot.fits(i, 0, memoryMiB, 0)) return "Insufficient memory";
        if (!snapshot.fits(i, 0, 0, gpu)) return "Insufficient gpu";
        if (!snapshot.hasTaskSlots(i)) return "Too many tasks";
        return undefined;
      },
      keep(list, count) {
        let w = 0;
        for (let k = 0; k < count; k++) {
          const i = list[k]!;
          if (snapshot.fits(i, cpu, memoryMiB, gpu, 1)) list[w++] = i;
        }
        return w;
      },
    };
  },
};
