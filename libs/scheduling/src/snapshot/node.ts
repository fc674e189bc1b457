import type { NodeTier } from "@eiaas/api";
import { loadCapacityOf, taskSlotsOf } from "./capacity.js";
import type { NodeInit, SnapshotNode } from "./types.js";

const TIERS: readonly NodeTier[] = ["device", "edge", "cloud"];

/** Bit of a tier in `Snapshot.tierBits`: device 1, edge 2, cloud 4. */
export function tierBit(tier: NodeTier): number {
  return 1 << TIERS.indexOf(tier);
}

/** The immutable node of a snapshot: defaults filled, ancestors resolved (a parent cycle is cut). */
export function makeNode(n: NodeInit, index: number, parentIdx: readonly number[]): SnapshotNode {
  const ancestors: number[] = [index];
  const seen = new Set<number>([index]);
  let p = parentIdx[index]!;
  while (p >= 0 && !seen.has(p)) {
    ancestors.push(p);
    seen.add(p);
    p = parentIdx[p]!;
  }
  const gpu = n.capacity?.gpu ?? 0;
  const power = { computeW: n.power?.computeW ?? 0, transmitW: n.power?.transmitW ?? 0, idleW: n.power?.idleW ?? 0 };
  const hardware = n.hardware ?? "";
  const gflops = n.gflops ?? 0;
  const byOperator = n.gflopsByOperator ?? {};
  return {
    index,
    name: n.name,
    tier: n.tier,
    parent: n.parent,
    parentIndex: parentIdx[index]!,
    hardware,
    labels: n.labels ?? {},
    taints: n.taints ?? [],
    ready: n.ready ?? true,
    unschedulable: n.unschedulable ?? false,
    capacity: {
      cpu: n.capacity?.cpu ?? 0,
      memoryMiB: n.capacity?.memoryMiB ?? 0,
      gpu,
      acceleratorTops: n.capacity?.acceleratorTops ?? 0,
      tasks: taskSlotsOf(n.capacity?.tasks),
    },
    gflops,
    gflopsByOperator: byOperator,
    power,
    network: { uplinkMbps: n.network?.uplinkMbps ?? 0, downlinkMbps: n.network?.downlinkMbps ?? 0, rttMs: n.network?.rttMs ?? 0 },
    loadCapacity: loadCapacityOf(gpu),
    ancestors: Int32Array.from(ancestors),
    costKey: `${hardware}\u0000${gflops}\u0000${byOperator.pointwise ?? ""},${byOperator.depthwise ?? ""},${byOperator.matmul ?? ""},${byOperator.lrn ?? ""}\u0000${power.computeW}`,
  };
}
