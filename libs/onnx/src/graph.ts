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
  /**
   * Nodes that read only parameters (e.g. an Identity or Transpose of a weight, as exporters emit
   * for shared weights), in topological order: their outputs are parameters too, and every
   * segment that reads one gets a copy of the node.
   */
  paramNodes: NodeProto[];
  /** Output name → its node in `paramNodes`. */
  paramProducer: Map<string, NodeProto>;
  /** The activation nodes, in a topological order (the file's own order when it is one). */
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
  const isParam = (name: string): boolean => !name || initializers.has(name) || constants.has(name) || paramProducer.has(name);
  const paramProducer = new Map<string, NodeProto>();
  const paramNodes: NodeProto[] = [];
  const nodes: NodeProto[] = [];
  for (const node of topologicalOrder(rest, known)) {
    const inputs = (node.input ?? []).filter(Boolean);
    if (inputs.length > 0 && inputs.every(isParam)) {
      paramNodes.push(node);
      for (const out of node.output ?? []) if (out) paramProducer.set(out, node);
    } else nodes.push(node);
  }
  return { graph, initializers, constants, paramNodes, paramProducer, nodes, inputName, outputs };
}

/** The parameters a set of nodes reads, through parameter nodes: what a segment must carry. */
export interface Parameters {
  /** Constant and parameter nodes, in an order that runs (Constants first, then topological). */
  nodes: NodeProto[];
  /** Initializers read, by name, each with the (node, input index) pairs that read it. */
  initializers: Map<string, Array<{ node: NodeProto; index: number }>>;
}

export function parametersOf(g: Graph, nodes: readonly NodeProto[]): Parameters {
  const constants = new Set<NodeProto>();
  const params = new Set<NodeProto>();
  const initializers = new Map<string, Array<{ node: NodeProto; index: number }>>();
  const visit = (node: NodeProto): void => {
    (node.input ?? []).forEach((name, index) => {
      const c = g.constants.get(name);
      if (c) constants.add(c.node);
      if (g.initializers.has(name)) initializers.set(name, [...(initializers.get(name) ?? []), { node, index }]);
      const p = g.paramProducer.get(name);
      if (p && !params.has(p)) {
        params.add(p);
        visit(p);
      }
    });
  };
  nodes.forEach(visit);
  return { nodes: [...constants, ...g.paramNodes.filter((n) => params.has(n))], initializers };
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
