import type { NodeTier, TaskRole, Taint } from "@eiaas/api";

/** cpu in millicores, memory in MiB, gpu in devices. */
export interface ResourceVector {
  cpu: number;
  memoryMiB: number;
  gpu: number;
}

/** A node as the scheduler sees it for one cycle. Immutable; allocations live in the Snapshot. */
export interface SnapshotNode {
  /** Position in `Snapshot.nodes` (nodes are sorted by name, so index order is name order). */
  readonly index: number;
  readonly name: string;
  readonly tier: NodeTier;
  /** Name of the node this one reaches the network through, as written in the spec. */
  readonly parent: string | undefined;
  /** Index of the parent in the snapshot, or -1 when it has none or it is not in the snapshot. */
  readonly parentIndex: number;
  /** Hardware class ("" when unset), matched against model profiles. */
  readonly hardware: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly Taint[];
  readonly ready: boolean;
  readonly unschedulable: boolean;
  readonly capacity: Readonly<ResourceVector & { acceleratorTops: number }>;
  readonly gflops: number;
  readonly power: Readonly<{ computeW: number; transmitW: number; idleW: number }>;
  /** The link to the parent; measured uplink and RTT override the spec when present. */
  readonly network: Readonly<{ uplinkMbps: number; downlinkMbps: number; rttMs: number }>;
  /** Most load the node may carry: its gpu count when it has GPUs, else 1. */
  readonly loadCapacity: number;
  /** This node, its parent, its grandparent, ... (indices; stops at a missing parent or a cycle). */
  readonly ancestors: Int32Array;
  /** Nodes with equal keys have equal per-layer timing and power for every model. */
  readonly costKey: string;
}

export interface TenantQuotaLimits {
  cpu?: number;
  memoryMiB?: number;
  gpu?: number;
  tasks?: number;
}

/** A tenant (namespace) as the scheduler sees it. Usage lives in the Snapshot. */
export interface SnapshotTenant {
  readonly index: number;
  readonly name: string;
  readonly weight: number;
  readonly quota: Readonly<TenantQuotaLimits>;
  readonly maxPriority: number | undefined;
  /** Creation time in ms since the epoch (0 when unknown), for queue tie-breaks. */
  readonly createdAt: number;
}

/** A task occupying a node: bound, not finished. */
export interface SnapshotTask {
  readonly name: string;
  /** Tenant of the task. */
  readonly namespace: string;
  readonly uid: string | undefined;
  readonly nodeIndex: number;
  readonly role: TaskRole;
  readonly priority: number;
  /** Creation time in ms since the epoch; preemption prefers newer victims. */
  readonly createdAt: number;
  readonly resources: Readonly<ResourceVector>;
  readonly load: number;
  /** The workload that owns it (`Kind/name`), when known. */
  readonly owner: string | undefined;
}
