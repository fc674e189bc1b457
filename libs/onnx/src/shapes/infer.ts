// Static shape inference over the activation nodes, in topological order.
import { OnnxImportError, nodeLabel } from "../errors.js";
import { labelOf, type Graph } from "../graph.js";
import { tensorDims, tensorInts, toInt, type NodeProto, type ValueInfoProto } from "../proto.js";
import { fmt, numel, shapeError, type OpContext, type TensorInfo } from "./context.js";
import { OPERATORS } from "./registry.js";

/** Largest tensor the importer accepts (elements): keeps every product below 2^53 with room to spare. */
export const MAX_ELEMENTS = 2 ** 36;
/** Highest rank accepted: shape work is O(rank) per node, and no vision model needs more than 6. */
export const MAX_RANK = 16;

export interface Inferred {
  /** Type of every tensor: the input, initializers, Constants and every node output. */
  types: Map<string, TensorInfo>;
  /** Input type after `inputShape` was applied. */
  input: TensorInfo;
  /** Multiply-adds per node (index into Graph.nodes); 0 for everything but Conv, Gemm, MatMul. */
  macs: number[];
}

/** The input's declared type, with `inputShape` filling (and checked against) its dimensions. */
function inputType(value: ValueInfoProto | undefined, name: string, inputShape: number[] | undefined): TensorInfo {
  const tensor = value?.type?.tensorType;
  if (!tensor) throw new OnnxImportError("InvalidOnnx", `input "${name}" is not a tensor`);
  const elemType = tensor.elemType ?? 0;
  const dims = (tensor.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null ? toInt(d.dimValue, `input "${name}"`) : 0));
  const declared = dims.map((d, i) => (d > 0 ? String(d) : tensor.shape?.dim?.[i]?.dimParam || "?"));
  if (inputShape) {
    if (!Array.isArray(inputShape) || inputShape.length > MAX_RANK || !inputShape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new OnnxImportError("ShapeMismatch", `inputShape ${String(inputShape).slice(0, 80)} must be a list of positive integers`);
    }
    if (tensor.shape && (inputShape.length !== dims.length || dims.some((d, i) => d > 0 && d !== inputShape[i]))) {
      throw new OnnxImportError("ShapeMismatch", `inputShape ${fmt(inputShape)} does not fit input "${name}" of shape [${declared.join(",")}]`);
    }
    return { elemType, shape: [...inputShape] };
  }
  if (!tensor.shape || dims.some((d) => d <= 0)) {
    throw new OnnxImportError("DynamicShape", `input "${name}" has dynamic shape [${declared.join(",")}]: give the input shape (e.g. --input 1x3x224x224)`);
  }
  return { elemType, shape: dims };
}

function checkSize(info: TensorInfo, tensor: string): TensorInfo {
  if (info.shape.length > MAX_RANK || !info.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || numel(info.shape) > MAX_ELEMENTS) {
    throw new OnnxImportError("ShapeMismatch", `tensor "${tensor}" has shape ${fmt(info.shape)}, too large or invalid`);
  }
  return info;
}

export function inferShapes(g: Graph, opsetVersion: number, inputShape?: number[]): Inferred {
  const types = new Map<string, TensorInfo>();
  const input = checkSize(
    inputType(
      (g.graph.input ?? []).find((v) => v.name === g.inputName),
      g.inputName,
      inputShape,
    ),
    g.inputName,
  );
  types.set(g.inputName, input);
  for (const [name, t] of g.initializers) types.set(name, checkSize({ elemType: t.dataType ?? 0, shape: tensorDims(t) }, name));
  for (const [name, c] of g.constants) types.set(name, checkSize({ elemType: c.value.dataType ?? 0, shape: tensorDims(c.value) }, name));

  const all = [...g.paramNodes, ...g.nodes];
  const unsupported = all.findIndex((n) => !OPERATORS.has(n.opType ?? ""));
  if (unsupported >= 0) {
    const label = labelOf(all[unsupported]!, unsupported);
    const others = new Set(all.map((n) => n.opType ?? "").filter((op) => !OPERATORS.has(op) && op !== label.opType));
    const more = others.size ? ` (also unsupported: ${[...others].join(", ")})` : "";
    throw new OnnxImportError("UnsupportedOperator", `unsupported operator ${label.opType} in ${nodeLabel(label)}${more}`, label);
  }

  // Parameter nodes first (they read only parameters); their multiply-adds fold away and do not count.
  g.paramNodes.forEach((node, i) => inferNode(g, node, i, opsetVersion, types));
  const macs = g.nodes.map((node, i) => inferNode(g, node, g.paramNodes.length + i, opsetVersion, types));
  return { types, input, macs };
}

/** Types the node's outputs; returns its multiply-adds. */
function inferNode(g: Graph, node: NodeProto, i: number, opsetVersion: number, types: Map<string, TensorInfo>): number {
  const ctx = contextFor(g, node, i, opsetVersion, types);
  const op = OPERATORS.get(node.opType ?? "")!;
  const outputs = op.infer(ctx);
  (node.output ?? []).forEach((name, k) => {
    if (!name) return;
    const info = outputs[k] ?? ctx.fail(`output ${k} ("${name}") is not defined for ${node.opType}`);
    types.set(name, checkSize(info, name));
  });
  return op.macs ? op.macs(ctx, outputs) : 0;
}

function contextFor(g: Graph, node: NodeProto, index: number, opset: number, types: Map<string, TensorInfo>): OpContext {
  const label = labelOf(node, index);
  const names = node.input ?? [];
  const fail = (message: string): never => {
    throw shapeError(label, message);
  };
  const optionalInput = (i: number): TensorInfo | undefined => {
    const name = names[i];
    if (!name) return undefined;
    return types.get(name) ?? fail(`input "${name}" has no known shape`);
  };
  return {
    node,
    label,
    opset,
    inputCount: names.length,
    fail,
    optionalInput,
    input: (i) => optionalInput(i) ?? fail(`input ${i} is required`),
    constInts(i) {
      const name = names[i];
      if (!name) return undefined;
      const t = g.initializers.get(name) ?? g.constants.get(name)?.value;
      return t ? tensorInts(t, nodeLabel(label)) : undefined;
    },
  };
}
