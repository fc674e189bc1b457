import type { GflopsByOperator, NodeTier, TaskRole, Taint } from "@eiaas/api";

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
  /** `tasks`: most unfinished tasks at once, Infinity when unlimited. */
  readonly capacity: Readonly<ResourceVector & { acceleratorTops: number; tasks: number }>;
  readonly gflops: number;
  /** Speed by operator class where it differs from `gflops` (libs/api OPERATOR_CLASSES). */
  readonly gflopsByOperator: Readonly<GflopsByOperator>;
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
  /**
   * A run its node still reports of a task the control plane already ended (see
   * `Snapshot.hold`): it takes room on the node, not its tenant's quota, and is no preemption victim.
   */
  readonly held?: true;
}

/** Plain description of a node, before indexing. Every optional field defaults to 0 / empty. */
export interface NodeInit {
  name: string;
  tier: NodeTier;
  parent?: string;
  hardware?: string;
  labels?: Record<string, string>;
  taints?: readonly Taint[];
  /** Default true. */
  ready?: boolean;
  unschedulable?: boolean;
  capacity?: Partial<ResourceVector & { acceleratorTops: number; tasks: number }>;
  gflops?: number;
  gflopsByOperator?: GflopsByOperator;
  power?: Partial<{ computeW: number; transmitW: number; idleW: number }>;
  network?: Partial<{ uplinkMbps: number; downlinkMbps: number; rttMs: number }>;
  /** Allocation not explained by `tasks` (e.g. from `status.allocated`). */
  allocated?: Partial<ResourceVector & { load: number }>;
}

export interface TenantInit {
  name: string;
  /** Default 1. */
  weight?: number;
  quota?: TenantQuotaLimits;
  maxPriority?: number;
  /** Usage not explained by `tasks` (e.g. from `status.usage`). */
  usage?: Partial<ResourceVector & { tasks: number }>;
  createdAt?: number;
}

/** A task already occupying capacity, or one being reserved. */
export interface TaskInit {
  name: string;
  /** Tenant. */
  namespace: string;
  /** Node name or index. */
  node: string | number;
  /** Default "serve". */
  role?: TaskRole;
  /** Default 0. */
  priority?: number;
  /** ms since the epoch; default 0. */
  createdAt?: number;
  resources?: Partial<ResourceVector>;
  load?: number;
  uid?: string;
  owner?: string;
}

export interface SnapshotInit {
  nodes: readonly NodeInit[];
  tenants?: readonly TenantInit[];
  /**
   * Priority cap of a tenant without a `maxPriority` (the server's EIAAS_DEFAULT_MAX_PRIORITY,
   * 0 unless an admin configures otherwise). Absent: such tenants are uncapped.
   */
  defaultMaxPriority?: number;
  /** Bound, unfinished tasks; each adds its request to its node's allocation and its tenant's usage. */
  tasks?: readonly TaskInit[];
}
