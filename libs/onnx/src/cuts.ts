// Cut points (Neurosurgeon, DADS): positions of the topological order where exactly one activation
// tensor crosses from the nodes before to the nodes after. Parameters (initializers, Constant
// outputs) do not count: every segment carries its own copy of the ones it reads.
import type { Graph } from "./graph.js";
import { elemSize } from "./proto.js";
import { numel, type TensorInfo } from "./shapes/context.js";

/** A position between two nodes where a single activation tensor crosses. */
export interface CutPoint {
  /** Number of (non-Constant) nodes before the cut in the importer's topological order. */
  position: number;
  /** The one tensor that crosses. */
  tensor: string;
  shape: number[];
  /** Its size: elements × element size. */
  bytes: number;
}

export function tensorBytes(info: TensorInfo, name: string): number {
  return numel(info.shape) * elemSize(info.elemType, name);
}

/** Every interior cut point (0 < position < nodes), in order. O(nodes + edges). */
export function findCutPoints(g: Graph, types: Map<string, TensorInfo>): CutPoint[] {
  const n = g.nodes.length;
  // Producer position of each activation tensor (-1: the model's input) and its last reader
  // (n when it is a model output, so it crosses every later cut).
  const produced = new Map<string, number>([[g.inputName, -1]]);
  g.nodes.forEach((node, i) => node.output?.forEach((o) => o && produced.set(o, i)));
  const lastUse = new Map<string, number>();
  g.nodes.forEach((node, i) => node.input?.forEach((name) => produced.has(name) && lastUse.set(name, i)));
  for (const out of g.outputs) if (produced.has(out)) lastUse.set(out, n);

  // count[c] = tensors crossing cut c; idSum[c] = sum of their ids, i.e. the id when count is 1.
  const count = new Array<number>(n + 2).fill(0);
  const idSum = new Array<number>(n + 2).fill(0);
  const names: string[] = [];
  for (const [name, last] of lastUse) {
    const from = produced.get(name)! + 1;
    if (last < from) continue;
    const id = names.push(name);
    count[from]! += 1;
    idSum[from]! += id;
    count[last + 1]! -= 1;
    idSum[last + 1]! -= id;
  }
  const cuts: CutPoint[] = [];
  let c = 0;
  let s = 0;
  for (let pos = 0; pos < n; pos++) {
    c += count[pos]!;
    s += idSum[pos]!;
    if (pos === 0 || c !== 1) continue;
    const tensor = names[s - 1]!;
    if (tensor === g.inputName) continue; // only dead nodes before it: not a useful cut
    const info = types.get(tensor)!;
    cuts.push({ position: pos, tensor, shape: info.shape, bytes: tensorBytes(info, tensor) });
  }
  return cuts;
}
