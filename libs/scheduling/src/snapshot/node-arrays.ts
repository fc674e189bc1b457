import { unschedulableReason } from "./capacity.js";
import { tierBit } from "./node.js";
import type { NodeInit, ResourceVector, SnapshotNode } from "./types.js";

/** Per-node figures by node index, in flat arrays: hot loops scan these faster than node objects. */
export interface NodeArrays {
  /** Allocations (what reserve/release change). */
  allocated: { readonly cpu: Float64Array; readonly memoryMiB: Float64Array; readonly gpu: Float64Array; readonly load: Float64Array };
  /** Capacity and load capacity (fixed). */
  capacity: { readonly cpu: Float64Array; readonly memoryMiB: Float64Array; readonly gpu: Float64Array; readonly load: Float64Array };
  /** 1 when the node is Ready and schedulable. */
  schedulable: Uint8Array;
  /** Bit (1 << tierIndex) per node: device 1, edge 2, cloud 4. */
  tierBits: Uint8Array;
  taintCount: Uint16Array;
  /** Indices of the nodes that have taints (usually few). */
  taintedNodes: Int32Array;
  /** Σ capacity over all nodes. */
  totalCapacity: Readonly<ResourceVector>;
  /** Whether any node limits its number of tasks. */
  hasTaskLimits: boolean;
}

/** The flat arrays of `nodes` (in index order), allocations starting at what `inits[i].allocated` says. */
export function nodeArrays(inits: readonly NodeInit[], nodes: readonly SnapshotNode[]): NodeArrays {
  const count = nodes.length;
  const vector = () => ({ cpu: new Float64Array(count), memoryMiB: new Float64Array(count), gpu: new Float64Array(count), load: new Float64Array(count) });
  const allocated = vector();
  const capacity = vector();
  const schedulable = new Uint8Array(count);
  const tierBits = new Uint8Array(count);
  const taintCount = new Uint16Array(count);
  const total = { cpu: 0, memoryMiB: 0, gpu: 0 };
  for (const [i, n] of inits.entries()) {
    const node = nodes[i]!;
    allocated.cpu[i] = n.allocated?.cpu ?? 0;
    allocated.memoryMiB[i] = n.allocated?.memoryMiB ?? 0;
    allocated.gpu[i] = n.allocated?.gpu ?? 0;
    allocated.load[i] = n.allocated?.load ?? 0;
    schedulable[i] = unschedulableReason(node.ready, node.unschedulable) === undefined ? 1 : 0;
    tierBits[i] = tierBit(node.tier);
    capacity.cpu[i] = node.capacity.cpu;
    capacity.memoryMiB[i] = node.capacity.memoryMiB;
    capacity.gpu[i] = node.capacity.gpu;
    capacity.load[i] = node.loadCapacity;
    taintCount[i] = Math.min(node.taints.length, 65535);
    total.cpu += node.capacity.cpu;
    total.memoryMiB += node.capacity.memoryMiB;
    total.gpu += node.capacity.gpu;
  }
  return {
    allocated,
    capacity,
    schedulable,
    tierBits,
    taintCount,
    taintedNodes: Int32Array.from(nodes.filter((n) => n.taints.length > 0).map((n) => n.index)),
    totalCapacity: total,
    hasTaskLimits: nodes.some((n) => n.capacity.tasks !== Infinity),
  };
}

/** Inverted index of node labels, built on first use and kept for the snapshot's life (nodes do not change). */
export class LabelIndex {
  private index: Map<string, Map<string, number[]>> | undefined;

  constructor(private readonly nodes: readonly SnapshotNode[]) {}

  /** The nodes carrying label `key` with `value`, in index order. */
  nodesWith(key: string, value: string): readonly number[] {
    if (!this.index) {
      const index = new Map<string, Map<string, number[]>>();
      for (const n of this.nodes) {
        for (const [k, v] of Object.entries(n.labels)) {
          let byValue = index.get(k);
          if (!byValue) index.set(k, (byValue = new Map()));
          let list = byValue.get(v);
          if (!list) byValue.set(v, (list = []));
          list.push(n.index);
        }
      }
      this.index = index;
    }
    return this.index.get(key)?.get(value) ?? [];
  }
}
