// Standalone sub-models: the nodes between two cut points, with exactly the parameters they read,
// the cut tensor as input and the next cut tensor as output.
import { analyse, type Analysis } from "./analysis.js";
import { OnnxImportError } from "./errors.js";
import { importAnalysis, type ImportOptions } from "./import.js";
import { parametersOf } from "./graph.js";
import { encodeModel, isExternal, type TensorProto, type ValueInfoProto } from "./proto.js";

/**
 * Which part of the model to cut out: a 1-based inclusive range of the imported layers (the same
 * options give the same layers), or the cut tensors around it (`inputTensor` omitted: the model's
 * input; `outputTensor` omitted: the model's outputs). Tensor names may be any cut point's, also
 * ones inside a coalesced layer.
 */
export type SegmentRange = { fromLayer: number; toLayer: number } | { inputTensor?: string; outputTensor?: string };

interface Bounds {
  start: number;
  end: number;
  input: string;
  outputs: string[];
}

function byLayers(a: Analysis, from: number, to: number, opts: ImportOptions): Bounds {
  const { ranges } = importAnalysis(a, opts.coalesce);
  const n = ranges.length;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to < from || to > n) {
    throw new OnnxImportError("InvalidRange", `layers ${from}..${to} are not a range of the model's ${n} layers (1-based, inclusive)`);
  }
  const first = ranges[from - 1]!;
  const last = ranges[to - 1]!;
  return { start: first.start, end: last.end, input: from === 1 ? a.graph.inputName : ranges[from - 2]!.outputs[0]!, outputs: last.outputs };
}

function byTensors(a: Analysis, inputTensor: string | undefined, outputTensor: string | undefined): Bounds {
  const position = (tensor: string): number => {
    const cut = a.cuts.find((c) => c.tensor === tensor);
    if (!cut) throw new OnnxImportError("InvalidRange", `"${tensor}" is not a cut tensor of the model (a tensor that alone connects the layers before and after it)`);
    return cut.position;
  };
  const n = a.graph.nodes.length;
  const start = inputTensor === undefined || inputTensor === a.graph.inputName ? 0 : position(inputTensor);
  const toEnd = outputTensor === undefined || (a.graph.outputs.length === 1 && a.graph.outputs[0] === outputTensor);
  const end = toEnd ? n : position(outputTensor);
  if (end <= start) throw new OnnxImportError("InvalidRange", `"${outputTensor}" does not come after "${inputTensor}"`);
  return { start, end, input: start === 0 ? a.graph.inputName : inputTensor!, outputs: toEnd ? a.graph.outputs : [outputTensor!] };
}

function valueInfo(a: Analysis, name: string): ValueInfoProto {
  const t = a.inferred.types.get(name)!;
  return { name, type: { tensorType: { elemType: t.elemType, shape: { dim: t.shape.map((d) => ({ dimValue: d })) } } } };
}

/** Returns the ONNX bytes of the segment; the input shape is static (inputShape applied). */
export function extractSegment(bytes: Uint8Array, range: SegmentRange, opts: ImportOptions = {}): Uint8Array {
  const a = analyse(bytes, { ...opts, allowExternalData: true });
  const b = "fromLayer" in range ? byLayers(a, range.fromLayer, range.toLayer, opts) : byTensors(a, range.inputTensor, range.outputTensor);
  const nodes = a.graph.nodes.slice(b.start, b.end);
  const params = parametersOf(a.graph, nodes);
  const initializers = new Map<string, TensorProto>();
  for (const name of params.initializers.keys()) {
    const t = a.graph.initializers.get(name)!;
    if (isExternal(t)) throw new OnnxImportError("ExternalData", `initializer "${name}" stores its data outside the file: cannot cut a segment without its weights`);
    initializers.set(name, t);
  }
  const src = a.model.proto;
  const graph = a.graph.graph;
  const inputs = [valueInfo(a, b.input)];
  // IR < 4 wants initializers listed among the inputs too.
  if (a.model.irVersion < 4)
    for (const t of initializers.values()) inputs.push({ name: t.name, type: { tensorType: { elemType: t.dataType, shape: { dim: (t.dims ?? []).map((d) => ({ dimValue: d })) } } } });
  const segment = `${b.input} -> ${b.outputs.join(",")}`;
  return encodeModel({
    irVersion: src.irVersion,
    opsetImport: src.opsetImport,
    producerName: src.producerName,
    producerVersion: src.producerVersion,
    domain: src.domain,
    modelVersion: src.modelVersion,
    docString: src.docString,
    metadataProps: [...(src.metadataProps ?? []).filter((p) => p.key !== "eiaas.segment"), { key: "eiaas.segment", value: segment }],
    graph: {
      name: `${graph.name ?? "model"} [${segment}]`,
      docString: graph.docString,
      node: [...params.nodes, ...nodes],
      initializer: [...initializers.values()],
      input: inputs,
      output: b.outputs.map((o) => valueInfo(a, o)),
    },
  });
}
