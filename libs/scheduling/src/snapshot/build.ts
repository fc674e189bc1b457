import type { Condition, EdgeNodeSpec, NodeAllocation, TaskSpec, TenantSpec, TenantUsage } from "@eiaas/api";
import { amount, isReady, type NodeDemand } from "./capacity.js";
import { Snapshot, type NodeInit, type TaskInit, type TenantInit } from "./snapshot.js";

interface MetaLike {
  name: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string | null;
  ownerReferences?: ReadonlyArray<{ kind: string; name: string }>;
}

/** An EdgeNode as stored or as read from a file (status optional). */
export interface EdgeNodeLike {
  metadata: MetaLike;
  spec: EdgeNodeSpec;
  status?: {
    phase?: string;
    conditions?: readonly Condition[];
    allocated?: Partial<NodeAllocation>;
    measured?: { uplinkMbps?: number; rttMs?: number };
  } | null;
}

export interface TenantLike {
  metadata: MetaLike;
  spec: TenantSpec;
  status?: { usage?: Partial<TenantUsage> } | null;
}

export interface TaskLike {
  metadata: MetaLike;
  spec: Pick<TaskSpec, "role" | "resources" | "load" | "priority"> & { nodeName?: string };
  status?: { phase?: string } | null;
}

export interface BuildSnapshotInput {
  nodes: readonly EdgeNodeLike[];
  tenants?: readonly TenantLike[];
  /**
   * Tasks of every tenant. When given, node allocations and tenant usage are summed from the
   * unfinished ones (bound ones count on their node; all count for their tenant) and
   * `status.allocated` / `status.usage` are ignored, so the snapshot follows the task rows, the
   * source of truth. When absent, those status fields are used (the offline `eictl plan` case).
   */
  tasks?: readonly TaskLike[];
  /** Priority cap of tenants without `spec.maxPriority` (see `SnapshotInit.defaultMaxPriority`). */
  defaultMaxPriority?: number;
}

/**
 * Builds a scheduling Snapshot from API objects. Pure: the scheduler (from Postgres rows), the API's
 * dryRun and `eictl plan` (from files) all plan from the same view. A node without status counts as
 * Ready and unallocated; measured uplink/RTT override the spec's link.
 */
export function buildSnapshot(input: BuildSnapshotInput): Snapshot {
  const fromTasks = input.tasks !== undefined;
  const nodes: NodeInit[] = input.nodes.map((n) => nodeInit(n, !fromTasks));
  const tenants: TenantInit[] = (input.tenants ?? []).map((t) => ({
    name: t.metadata.name,
    weight: t.spec.weight,
    quota: t.spec.quota ?? {},
    maxPriority: t.spec.maxPriority,
    usage: fromTasks ? undefined : t.status?.usage,
    createdAt: parseTime(t.metadata.creationTimestamp),
  }));
  const nodeNames = new Set(nodes.map((n) => n.name));
  const tasks: TaskInit[] = [];
  const unboundUsage = new Map<string, { cpu: number; memoryMiB: number; gpu: number; tasks: number }>();
  for (const t of input.tasks ?? []) {
    const phase = t.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") continue;
    const ns = t.metadata.namespace ?? "default";
    const r = t.spec.resources;
    const node = t.spec.nodeName;
    if (node !== undefined && nodeNames.has(node)) {
      tasks.push(taskInit(t));
    } else {
      // Not on a known node, yet still counted against the tenant's quota (as Kubernetes counts
      // pods in ResourceQuota whether or not they are scheduled).
      const u = unboundUsage.get(ns) ?? { cpu: 0, memoryMiB: 0, gpu: 0, tasks: 0 };
      u.cpu += r.cpu;
      u.memoryMiB += r.memoryMiB;
      u.gpu += r.gpu;
      u.tasks += 1;
      unboundUsage.set(ns, u);
    }
  }
  for (const [ns, usage] of unboundUsage) {
    const t = tenants.find((x) => x.name === ns);
    if (t) t.usage = usage;
    else tenants.push({ name: ns, usage });
  }
  return new Snapshot({ nodes, tenants, tasks, ...(input.defaultMaxPriority !== undefined ? { defaultMaxPriority: input.defaultMaxPriority } : {}) });
}

/**
 * What a task asks of its node: its requests, the load it adds and one task slot. Read the same
 * way by the snapshot ({@link taskInit}) and by the binder's re-check.
 */
export function taskDemand(t: { spec?: { resources?: Partial<Record<"cpu" | "memoryMiB" | "gpu", unknown>>; load?: unknown } | null }): NodeDemand {
  const r = t.spec?.resources;
  return { cpu: amount(r?.cpu), memoryMiB: amount(r?.memoryMiB), gpu: amount(r?.gpu), load: amount(t.spec?.load), tasks: 1 };
}

/** What the snapshot records of a bound task (its node by name). */
export function taskInit(t: TaskLike): TaskInit & { node: string } {
  const d = taskDemand(t);
  return {
    name: t.metadata.name,
    namespace: t.metadata.namespace ?? "default",
    node: t.spec.nodeName ?? "",
    role: t.spec.role,
    priority: amount(t.spec.priority),
    createdAt: parseTime(t.metadata.creationTimestamp),
    resources: { cpu: d.cpu, memoryMiB: d.memoryMiB, gpu: d.gpu },
    load: d.load,
    uid: t.metadata.uid,
    owner: ownerOf(t.metadata),
  };
}

function nodeInit(n: EdgeNodeLike, useStatusAllocation: boolean): NodeInit {
  const s = n.spec;
  const measured = n.status?.measured;
  return {
    name: n.metadata.name,
    tier: s.tier,
    parent: s.parent,
    hardware: s.hardware,
    labels: n.metadata.labels ?? {},
    taints: s.taints ?? [],
    ready: isReady(n.status ?? undefined),
    unschedulable: s.unschedulable ?? false,
    capacity: s.capacity,
    gflops: s.compute?.gflops ?? 0,
    ...(s.compute?.gflopsByOperator ? { gflopsByOperator: s.compute.gflopsByOperator } : {}),
    power: s.power,
    network: {
      uplinkMbps: measured?.uplinkMbps ?? s.network?.uplinkMbps ?? 0,
      downlinkMbps: s.network?.downlinkMbps ?? 0,
      rttMs: measured?.rttMs ?? s.network?.rttMs ?? 0,
    },
    allocated: useStatusAllocation ? n.status?.allocated : undefined,
  };
}

function parseTime(t: string | null | undefined): number {
  if (!t) return 0;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : 0;
}

function ownerOf(m: MetaLike): string | undefined {
  const o = m.ownerReferences?.[0];
  return o ? `${o.kind}/${o.name}` : undefined;
}
