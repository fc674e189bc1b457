// A reference model's layer table (imported as `eictl model import` does) and its segments cut at
// the table's cut tensors, as the agent's ModelArtifacts cuts them for a task's layer range.
import { readFileSync } from "node:fs";
import type { ModelLayer } from "@eiaas/api";
import { extractSegment, importOnnxModel } from "@eiaas/onnx";

export interface BenchModel {
  name: string;
  bytes: Uint8Array;
  layers: ModelLayer[];
  inputShape: number[];
  inputBytes: number;
}

export function loadModel(name: string, file: string): BenchModel {
  const bytes = new Uint8Array(readFileSync(file));
  const m = importOnnxModel(bytes);
  return { name, bytes, layers: m.layers, inputShape: m.inputShape, inputBytes: m.inputBytes };
}

/** Layers `from..to` (1-based, inclusive) as a standalone ONNX model. */
export function segment(model: BenchModel, from: number, to: number): Uint8Array {
  if (from === 1 && to === model.layers.length) return model.bytes;
  const out = model.layers[to - 1]!.tensor!;
  const before = from > 1 ? model.layers[from - 2]!.tensor : undefined;
  return extractSegment(model.bytes, { ...(before ? { inputTensor: before } : {}), outputTensor: out }, { inputShape: model.inputShape });
}
