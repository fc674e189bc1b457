import type { Taint, Toleration } from "@eiaas/api";
import type { FilterPlugin } from "../framework/types.js";

/** Whether a toleration matches a taint, with Kubernetes' rules (empty key + Exists tolerates all). */
export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== taint.effect) return false;
  if (toleration.key !== undefined && toleration.key !== "" && toleration.key !== taint.key) return false;
  if ((toleration.operator ?? "Equal") === "Exists") return true;
  if (toleration.key === undefined || toleration.key === "") return false;
  return (toleration.value ?? "") === (taint.value ?? "");
}

/** The first taint none of the tolerations matches, or undefined. */
export function untoleratedTaint(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint | undefined {
  for (const t of taints) {
    let ok = false;
    for (const tol of tolerations) {
      if (tolerates(tol, t)) {
        ok = true;
        break;
      }
    }
    if (!ok) return t;
  }
  return undefined;
}

/** Both NoSchedule and NoExecute taints keep new tasks away unless tolerated. */
export const taintToleration: FilterPlugin = {
  name: "TaintToleration",
  prepare(snapshot, task) {
    const nodes = snapshot.nodes;
    const tolerations = task.tolerations ?? [];
    // Only tainted nodes can fail: find the ones this task does not tolerate once, up front.
    let blocked: Uint8Array | undefined;
    for (const i of snapshot.taintedNodes) {
      if (untoleratedTaint(nodes[i]!.taints, tolerations) !== undefined) (blocked ??= new Uint8Array(nodes.length))[i] = 1;
    }
    if (!blocked) return undefined;
    const refused = blocked;
    return {
      reason(i) {
        if (refused[i] === 0) return undefined;
        const t = untoleratedTaint(nodes[i]!.taints, tolerations)!;
        return `node(s) had untolerated taint {${t.key}: ${t.value ?? ""}}`;
      },
      keep(list, count) {
        let w = 0;
        for (let k = 0; k < count; k++) {
          const i = list[k]!;
          if (refused[i] === 0) list[w++] = i;
        }
        return w;
      },
    };
  },
};
