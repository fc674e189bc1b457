import { findCutPoints, type CutPoint } from "./cuts.js";
import { OnnxImportError } from "./errors.js";
import { buildGraph, type Graph } from "./graph.js";
import { parseOnnx, type OnnxModel } from "./parse.js";
import { isExternal } from "./proto.js";
import { inferShapes, type Inferred } from "./shapes/infer.js";

/** Options shared by import, segment extraction and exit heads. */
export interface AnalyseOptions {
  /**
   * Shape of the model input, batch included (`eictl model import --input 1x3x224x224`). Required
   * when the file's input has symbolic or unknown dimensions; checked against the file otherwise.
   */
  inputShape?: number[];
  /**
   * Accept initializers whose bytes are stored outside the file (ONNX external data). Import needs
   * only their dimensions, so shape-only files import the same as complete ones; a segment cannot
   * be extracted from them. Default false: an artifact must be self-contained to be served.
   */
  allowExternalData?: boolean;
}

export interface Analysis {
  model: OnnxModel;
  graph: Graph;
  inferred: Inferred;
  cuts: CutPoint[];
}

export function analyse(bytes: Uint8Array | OnnxModel, opts: AnalyseOptions = {}): Analysis {
  const model = bytes instanceof Uint8Array ? parseOnnx(bytes) : bytes;
  const graph = buildGraph(model);
  if (!opts.allowExternalData) {
    const ext = [...graph.initializers.values()].find(isExternal);
    if (ext) throw new OnnxImportError("ExternalData", `initializer "${ext.name ?? ""}" stores its data outside the file; embed the weights (a served model must be one file)`);
  }
  const inferred = inferShapes(graph, model.opsetVersion, opts.inputShape);
  const missing = graph.outputs.find((o) => !inferred.types.has(o));
  if (missing !== undefined) throw new OnnxImportError("InvalidOnnx", `output "${missing}" is produced by no node`);
  return { model, graph, inferred, cuts: findCutPoints(graph, inferred.types) };
}
