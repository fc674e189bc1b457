// From cut points to `spec.layers` entries: atomic segments (between consecutive cut points),
// coalesced to the granularity of the hand-made examples, with their flops, output bytes and
// parameter memory.
import type { ModelLayer } from "@eiaas/api";
import type { Analysis } from "./analysis.js";
import { parametersOf } from "./graph.js";
import { tensorBytes } from "./cuts.js";
import type { NodeProto } from "./proto.js";
import { elemSize, tensorDims } from "./proto.js";
import { numel } from "./shapes/context.js";
import { elementOpsOf, flopsByOperatorOf } from "./operators.js";

/**
 * Layer granularity:
 * - `"block"` (default): consecutive segments of the same module (see {@link blockKey}) form one
 *   layer, then every layer without Conv/Gemm/MatMul is fused into the layer before it (into the
 *   next one at the start). One layer per weight layer with its activation/pool (VGG, AlexNet),
 *   per residual or inverted-residual block (ResNet, MobileNetV2), as in deploy/examples.
 * - `"weight"`: no module grouping, only the fusion of weightless segments.
 * - `"none"`: one layer per segment between two cut points (the finest split Neurosurgeon sees).
 */
export type Coalesce = "block" | "weight" | "none";

/** A layer as node positions [start, end) of the analysis' topological order. */
export interface LayerRange {
  name: string;
  start: number;
  end: number;
  /** The tensors leaving the layer: one cut tensor, or the model's outputs for the last layer. */
  outputs: string[];
}

/**
 * The module a node belongs to, from torch-exporter style names (`/layer1/layer1.0/conv1/Conv`):
 * the first path component, or the second when it is a numbered child of the first (`layer1.0`,
 * `features.3`: a block inside a stage or a Sequential). A name without `/` is its own module; a
 * top-level op (`/Flatten`) has none.
 */
export function blockKey(name: string | null | undefined): string | undefined {
  if (!name) return undefined;
  if (!name.startsWith("/")) return name;
  const parts = name.split("/").filter(Boolean);
  if (parts.length < 2) return undefined;
  const [first, second] = parts as [string, string];
  return parts.length >= 3 && second.startsWith(`${first}.`) ? second : first;
}

interface Segment {
  start: number;
  end: number;
  macs: number;
  key: string | undefined;
}

function segments(a: Analysis): Segment[] {
  const bounds = [0, ...a.cuts.map((c) => c.position), a.graph.nodes.length];
  const out: Segment[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const start = bounds[i]!;
    const end = bounds[i + 1]!;
    let macs = 0;
    let key: string | undefined;
    let weightKey: string | undefined;
    for (let p = start; p < end; p++) {
      const m = a.inferred.macs[p]!;
      const k = blockKey(a.graph.nodes[p]!.name);
      macs += m;
      key ??= k;
      if (m > 0 && weightKey === undefined) weightKey = k;
    }
    out.push({ start, end, macs, key: weightKey ?? key });
  }
  return out;
}

function mergeInto(target: Segment, s: Segment): Segment {
  return { start: Math.min(target.start, s.start), end: Math.max(target.end, s.end), macs: target.macs + s.macs, key: target.macs > 0 || s.macs === 0 ? target.key : s.key };
}

function coalesce(segs: Segment[], mode: Coalesce): Segment[] {
  if (mode === "none") return segs;
  const groups: Segment[] = [];
  for (const s of segs) {
    const last = groups[groups.length - 1];
    if (mode === "block" && last && s.key !== undefined && s.key === last.key) groups[groups.length - 1] = mergeInto(last, s);
    else groups.push(s);
  }
  // Weightless groups (activations, pooling, BN, flatten, dropout) join the weight layer before them.
  const fused: Segment[] = [];
  let pending: Segment | undefined; // weightless groups before the first weight layer
  for (const g of groups) {
    const last = fused[fused.length - 1];
    if (g.macs > 0) fused.push(pending ? { ...mergeInto(pending, g), key: g.key } : g);
    else if (last) fused[fused.length - 1] = mergeInto(last, g);
    else pending = pending ? mergeInto(pending, g) : g;
    if (g.macs > 0) pending = undefined;
  }
  if (pending) fused.push(pending); // the whole model has no Conv/Gemm/MatMul
  return fused;
}

const MAX_NAME = 63;

/** Layer names: the module key, else the first weight node's (or first node's) name; unique. */
function names(a: Analysis, groups: Segment[]): string[] {
  const seen = new Map<string, number>();
  return groups.map((g, i) => {
    const nodes = a.graph.nodes.slice(g.start, g.end);
    const weight = nodes.find((_, k) => a.inferred.macs[g.start + k]! > 0);
    const base = (g.key ?? (weight ?? nodes[0])?.name ?? "").slice(0, MAX_NAME) || `layer${i + 1}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}_${n}`;
  });
}

export function layerRanges(a: Analysis, mode: Coalesce): LayerRange[] {
  const groups = coalesce(segments(a), mode);
  const byPosition = new Map(a.cuts.map((c) => [c.position, c.tensor]));
  const labels = names(a, groups);
  return groups.map((g, i) => {
    const cut = byPosition.get(g.end);
    return { name: labels[i]!, start: g.start, end: g.end, outputs: cut !== undefined ? [cut] : a.graph.outputs };
  });
}

/**
 * Parameter bytes a range of nodes reads: its initializers' elements × element size, each once,
 * without BatchNormalization's running mean and variance (buffers, not parameters: the examples
 * count what torchvision's num_params counts, weights + biases + BN scale/shift).
 */
export function parameterBytes(a: Analysis, nodes: readonly NodeProto[]): number {
  let bytes = 0;
  for (const [name, readers] of parametersOf(a.graph, nodes).initializers) {
    if (readers.every((r) => r.node.opType === "BatchNormalization" && r.index >= 3)) continue;
    const t = a.graph.initializers.get(name)!;
    bytes += numel(tensorDims(t)) * elemSize(t.dataType ?? 0, name);
  }
  return bytes;
}

/** MiB rounded to 3 decimals, at least 0.01 when there is any parameter (the examples' convention). */
export function toMiB(bytes: number): number {
  if (bytes === 0) return 0;
  return Math.max(0.01, Math.round((bytes / 2 ** 20) * 1000) / 1000);
}

export function layerOf(a: Analysis, r: LayerRange): ModelLayer {
  const nodes = a.graph.nodes.slice(r.start, r.end);
  const macs = a.inferred.macs.slice(r.start, r.end).reduce((x, y) => x + y, 0);
  const outputBytes = r.outputs.reduce((sum, name) => sum + tensorBytes(a.inferred.types.get(name)!, name), 0);
  const layer: ModelLayer = { name: r.name, flops: 2 * macs, outputBytes, memoryMiB: toMiB(parameterBytes(a, nodes)) };
  const byOperator = flopsByOperatorOf(a, r.start, r.end);
  if (byOperator) layer.flopsByOperator = byOperator;
  const elementOps = elementOpsOf(a, r.start, r.end);
  if (elementOps) layer.elementOps = elementOps;
  if (r.outputs.length === 1) layer.tensor = r.outputs[0]!;
  return layer;
}
