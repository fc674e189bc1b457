// Which operator class a node's multiply-adds belong to (libs/api OPERATOR_CLASSES): the planner
// times each class at the node's measured speed for it.
import type { FlopsByOperator, OperatorClass } from "@eiaas/api";
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
