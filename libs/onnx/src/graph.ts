// The graph as the importer sees it: parameters (initializers and Constant nodes) apart from the
// activation nodes, which are put in topological order.
import { OnnxImportError, nodeLabel } from "./errors.js";
import type { OnnxModel } from "./parse.js";
import type { GraphProto, NodeProto, TensorProto } from "./proto.js";

export interface Graph {
  graph: GraphProto;
  initializers: Map<string, TensorProto>;
  /** Output name → value of a Constant node: parameters, never activations that cross a cut. */
  constants: Map<string, { node: NodeProto; value: TensorProto }>;
  /** Every node except Constants, in a topological order (the file's own order when it is one). */
  nodes: NodeProto[];
  /** The one activation input (graph inputs that are not initializers). */
  inputName: string;
  outputs: string[];
}

/** A node's identity for messages: its name, or its position and first output when it has none. */
export function labelOf(node: NodeProto, index: number): { name: string; opType: string } {
  return { name: node.name || `#${index}:${node.output?.[0] ?? "?"}`, opType: node.opType ?? "" };
}

function constantValue(node: NodeProto, index: number): TensorProto {
  const value = node.attribute?.find((a) => a.name === "value")?.t;
  if (!value) {
    const label = labelOf(node, index);
    throw new OnnxImportError("UnsupportedOperator", `${nodeLabel(label)}: only Constant nodes with a tensor "value" are supported`, label);
  }
  return value;
}

export function buildGraph(model: OnnxModel): Graph {
  const graph = model.proto.graph!;
  const initializers = new Map<string, TensorProto>();
  for (const t of graph.initializer ?? []) initializers.set(t.name ?? "", t);
  const constants = new Map<string, { node: NodeProto; value: TensorProto }>();
  const rest: NodeProto[] = [];
  graph.node!.forEach((node, i) => {
    if (node.domain && node.domain !== "ai.onnx") {
      const label = labelOf(node, i);
      throw new OnnxImportError("UnsupportedOperator", `unsupported operator ${node.domain}.${node.opType} in ${nodeLabel(label)}`, label);
    }
    if (node.opType === "Constant") {
      const value = constantValue(node, i);
      for (const out of node.output ?? []) constants.set(out, { node, value });
    } else rest.push(node);
  });
  const inputs = (graph.input ?? []).map((v) => v.name ?? "").filter((n) => !initializers.has(n));
  if (inputs.length !== 1) {
    throw new OnnxImportError("InvalidOnnx", `the model has ${inputs.length} inputs (${inputs.join(", ")}); only single-input models can be imported`);
  }
  const outputs = (graph.output ?? []).map((v) => v.name ?? "");
  if (outputs.length === 0) throw new OnnxImportError("InvalidOnnx", "the model declares no output");
  const inputName = inputs[0]!;
  const known = new Set<string>([inputName, ...initializers.keys(), ...constants.keys(), ""]);
  return { graph, initializers, constants, nodes: topologicalOrder(rest, known), inputName, outputs };
}

/** Kahn's algorithm, first-come first-served: the file's order when it already is topological. */
function topologicalOrder(nodes: NodeProto[], known: Set<string>): NodeProto[] {
  const producer = new Map<string, number>();
  nodes.forEach((node, i) => {
    for (const out of node.output ?? []) {
      if (!out) continue;
      if (producer.has(out) || known.has(out)) {
        throw new OnnxImportError("InvalidOnnx", `tensor "${out}" is produced twice (${nodeLabel(labelOf(node, i))})`);
      }
      producer.set(out, i);
    }
  });
  const waiting = new Array<number>(nodes.length).fill(0);
  const consumers: number[][] = nodes.map(() => []);
  nodes.forEach((node, i) => {
    for (const name of new Set(node.input ?? [])) {
      const p = producer.get(name);
      if (p !== undefined) {
        waiting[i]!++;
        consumers[p]!.push(i);
      } else if (!known.has(name)) {
        throw new OnnxImportError("InvalidOnnx", `${nodeLabel(labelOf(node, i))} reads tensor "${name}" that nothing produces`);
      }
    }
  });
  if (nodes.every((node, i) => (node.input ?? []).every((name) => (producer.get(name) ?? -1) < i))) return nodes;
  const queue = nodes.map((_, i) => i).filter((i) => waiting[i] === 0);
  const order: NodeProto[] = [];
  for (let q = 0; q < queue.length; q++) {
    const i = queue[q]!;
    order.push(nodes[i]!);
    for (const c of consumers[i]!) if (--waiting[c]! === 0) queue.push(c);
  }
  if (order.length !== nodes.length) throw new OnnxImportError("InvalidOnnx", "the graph has a cycle");
  return order;
}
