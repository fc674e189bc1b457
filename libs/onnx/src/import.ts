import type { ModelLayer } from "@eiaas/api";
import { analyse, type AnalyseOptions, type Analysis } from "./analysis.js";
import { tensorBytes, type CutPoint } from "./cuts.js";
import { layerOf, layerRanges, type Coalesce, type LayerRange } from "./layers.js";
import type { OnnxModel } from "./parse.js";

export interface ImportOptions extends AnalyseOptions {
  /** Layer granularity (default `"block"`): see {@link Coalesce}. */
  coalesce?: Coalesce;
}

/** What an ONNX file contributes to a Model spec, plus what a serving runtime needs to cut it. */
export interface ImportedModel {
  inputName: string;
  /** Input shape, batch included (the file's, or `inputShape`). */
  inputShape: number[];
  /** `spec.inputBytes`: input elements × element size. */
  inputBytes: number;
  /** `spec.layers`, in execution order; each carries the name of the tensor it outputs. */
  layers: ModelLayer[];
  /** Every single-tensor cut point of the graph (finer than `layers` unless coalesce is "none"). */
  cuts: CutPoint[];
  outputNames: string[];
  opsetVersion: number;
  irVersion: number;
  producer: string;
  /** The model's doc_string and metadata_props, e.g. where its weights come from. */
  docString: string;
  metadata: Record<string, string>;
}

/** Layers with their node ranges, for extraction and exits (not part of the public API). */
export function importAnalysis(a: Analysis, coalesce: Coalesce = "block"): { ranges: LayerRange[]; layers: ModelLayer[] } {
  const ranges = layerRanges(a, coalesce);
  return { ranges, layers: ranges.map((r) => layerOf(a, r)) };
}

/**
 * Reads an ONNX model and derives its layer table: static shapes, cut points, and one
 * `spec.layers` entry per segment between cut points (coalesced, see {@link Coalesce}).
 *
 * Per layer: `flops` = 2 × multiply-adds of Conv (out elements × Cin/group × kernel), Gemm (M·N·K)
 * and MatMul only — bias adds, BN, activations, pooling, LRN, residual adds, softmax are not
 * counted; `outputBytes` = elements × element size of the tensor leaving the layer; `memoryMiB` =
 * bytes of the initializers the layer reads (BN running statistics excluded) / 2^20, rounded to 3
 * decimals with a minimum of 0.01 when there is any.
 *
 * Throws {@link OnnxImportError} for anything it cannot import exactly.
 */
export function importOnnxModel(bytes: Uint8Array | OnnxModel, opts: ImportOptions = {}): ImportedModel {
  const a = analyse(bytes, opts);
  const { layers } = importAnalysis(a, opts.coalesce);
  const proto = a.model.proto;
  const metadata: Record<string, string> = {};
  for (const p of proto.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? "";
  return {
    inputName: a.graph.inputName,
    inputShape: a.inferred.input.shape,
    inputBytes: tensorBytes(a.inferred.input, a.graph.inputName),
    layers,
    cuts: a.cuts,
    outputNames: a.graph.outputs,
    opsetVersion: a.model.opsetVersion,
    irVersion: a.model.irVersion,
    producer: a.model.producer,
    docString: proto.docString ?? "",
    metadata,
  };
}
