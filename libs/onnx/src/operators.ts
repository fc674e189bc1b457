// Which operator class a node's multiply-adds belong to (libs/api OPERATOR_CLASSES): the planner
// times each class at the node's measured speed for it.
import type { ElementOps, FlopsByOperator, OperatorClass } from "@eiaas/api";
import type { Analysis } from "./analysis.js";
import { attrInt } from "./proto.js";

/**
 * The class of node `index` of the analysis' graph, undefined for the general class (k×k dense or
 * grouped convolutions) and for nodes without multiply-adds. A convolution with as many groups as
 * input channels is depthwise; a 1×1 one of a single group is pointwise.
 */
export function operatorClassOf(a: Analysis, index: number): OperatorClass | undefined {
  const node = a.graph.nodes[index]!;
  if (!(a.inferred.macs[index]! > 0)) return undefined;
  if (node.opType === "Gemm" || node.opType === "MatMul") return "matmul";
  if (node.opType !== "Conv") return undefined;
  const cin = a.inferred.types.get(node.input?.[0] ?? "")?.shape[1];
  const group = attrInt(node, "group", 1);
  if (group > 1 && group === cin) return "depthwise";
  const w = a.inferred.types.get(node.input?.[1] ?? "")?.shape ?? [];
  return group === 1 && w.length > 2 && w.slice(2).every((d) => d === 1) ? "pointwise" : undefined;
}

/** FLOPs (2 × multiply-adds) of nodes `start..end-1` by class; undefined when all are general. */
export function flopsByOperatorOf(a: Analysis, start: number, end: number): FlopsByOperator | undefined {
  const out: FlopsByOperator = {};
  let any = false;
  for (let i = start; i < end; i++) {
    const c = operatorClassOf(a, i);
    if (c === undefined) continue;
    out[c] = (out[c] ?? 0) + 2 * a.inferred.macs[i]!;
    any = true;
  }
  return any ? out : undefined;
}

/**
 * Operations of nodes `start..end-1` that `flops` does not count, by class (libs/api
 * ELEMENT_CLASSES); undefined when there are none. LocalResponseNormalization: 2 × size per output
 * element (its window's sum of squares), as a convolution's flops are 2 × its multiply-adds.
 */
export function elementOpsOf(a: Analysis, start: number, end: number): ElementOps | undefined {
  let lrn = 0;
  for (let i = start; i < end; i++) {
    const node = a.graph.nodes[i]!;
    if (node.opType !== "LRN") continue;
    const shape = a.inferred.types.get(node.output?.[0] ?? "")?.shape ?? [];
    lrn += 2 * attrInt(node, "size", 0) * shape.reduce((x, d) => x * d, 1);
  }
  return lrn > 0 ? { lrn } : undefined;
}
