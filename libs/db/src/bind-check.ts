import {
  amount,
  capacityShortfall,
  fitsSlots,
  fitsWithin,
  isReady,
  nodeCapacity,
  taskDemand,
  unschedulableReason,
  type CapacityShortfall,
  type NodeCapacity,
  type NodeDemand,
} from "@eiaas/scheduling";
import type { StoredObject } from "./codec.js";

/**
 * The binder's re-check of a plan against the rows read under its lock. The rules are the
 * scheduling library's (`capacity.ts`: readiness, cpu/memory/gpu, load, task slots), the ones the
 * planner placed by; only the state differs (rows as they are now, not the planner's snapshot).
 */

/** A node as the binder read it: its capacity, whether it takes tasks, and what its tasks hold. */
export interface BindNode {
  ready: boolean;
  unschedulable: boolean;
  capacity: NodeCapacity;
  /** Held by its unfinished tasks (the `node_usage` row), then by the groups accepted before. */
  used: NodeDemand;
}

/** A row of the binder's node read: the node's columns and its `node_usage` totals. */
export interface NodeRow {
  name: string;
  phase: string;
  spec: { capacity?: Record<string, unknown>; unschedulable?: boolean } | null;
  status: { conditions?: Array<{ type: string; status: string }> } | null;
  cpu: number;
  mem: number;
  gpu: number;
  load: number;
  /** Unfinished tasks on the node (its task slots in use). */
  tasks: number;
}

export function bindNode(row: NodeRow): BindNode {
  return {
    ready: isReady({ phase: row.phase, conditions: row.status?.conditions ?? null }),
    unschedulable: row.spec?.unschedulable === true,
    capacity: nodeCapacity(row.spec?.capacity),
    used: { cpu: amount(row.cpu), memoryMiB: amount(row.mem), gpu: amount(row.gpu), load: amount(row.load), tasks: amount(row.tasks) },
  };
}

/** A tenant's quota (`spec.quota`); an absent limit is unlimited. */
export interface Quota {
  cpu?: number;
  memoryMiB?: number;
  gpu?: number;
  tasks?: number;
}

/** What a task about to be deleted holds (zero when it already finished): `eiaas_usage_of`. */
export interface ReleasedRow {
  node_name: string;
  namespace: string;
  cpu: number;
  mem: number;
  gpu: number;
  load: number;
  tasks: number;
}

/** Takes what a superseded task holds off a node's or a tenant's totals. */
export function takeOff(total: NodeDemand | undefined, d: ReleasedRow): void {
  if (!total) return;
  total.cpu -= amount(d.cpu);
  total.memoryMiB -= amount(d.mem);
  total.gpu -= amount(d.gpu);
  total.load -= amount(d.load);
  total.tasks -= amount(d.tasks);
}

export const noDemand = (): NodeDemand => ({ cpu: 0, memoryMiB: 0, gpu: 0, load: 0, tasks: 0 });

function add(to: NodeDemand, d: NodeDemand): void {
  to.cpu += d.cpu;
  to.memoryMiB += d.memoryMiB;
  to.gpu += d.gpu;
  to.load += d.load;
  to.tasks += d.tasks;
}

const SHORTFALL: Record<CapacityShortfall, (name: string, c: NodeCapacity) => string> = {
  cpu: (name) => `node ${name}: insufficient cpu`,
  memoryMiB: (name) => `node ${name}: insufficient memory`,
  gpu: (name) => `node ${name}: insufficient gpu`,
  load: (name, c) => `node ${name}: load would exceed ${c.load}`,
  tasks: (name, c) => `node ${name}: too many tasks (${c.tasks} slots)`,
};

/** Why the group's tasks no longer fit (a node gone, not Ready, cordoned, full; the tenant's quota), or undefined. */
export function checkGroup(tasks: readonly StoredObject[], nodes: ReadonlyMap<string, BindNode>, quota: Quota | undefined, used: NodeDemand): string | undefined {
  const byNode = new Map<string, NodeDemand>();
  const total = noDemand();
  for (const t of tasks) {
    const name = t.spec.nodeName as string;
    const n = nodes.get(name);
    if (!n) return `node ${name} no longer exists`;
    const why = unschedulableReason(n.ready, n.unschedulable);
    if (why === "NotReady") return `node ${name} is not Ready`;
    if (why === "Cordoned") return `node ${name} is cordoned`;
    const d = taskDemand(t);
    const onNode = byNode.get(name) ?? noDemand();
    add(onNode, d);
    byNode.set(name, onNode);
    add(total, d);
  }
  for (const [name, d] of byNode) {
    const n = nodes.get(name)!;
    const short = capacityShortfall(n.capacity, n.used, d);
    if (short) return SHORTFALL[short](name, n.capacity);
  }
  if (quota) {
    if (quota.tasks !== undefined && !fitsSlots(used.tasks, total.tasks, quota.tasks)) return `quota: tasks ${used.tasks + total.tasks} > ${quota.tasks}`;
    if (quota.cpu !== undefined && !fitsWithin(used.cpu, total.cpu, quota.cpu)) return `quota: cpu ${used.cpu + total.cpu} > ${quota.cpu}`;
    if (quota.memoryMiB !== undefined && !fitsWithin(used.memoryMiB, total.memoryMiB, quota.memoryMiB)) return `quota: memory ${used.memoryMiB + total.memoryMiB} > ${quota.memoryMiB}`;
    if (quota.gpu !== undefined && !fitsWithin(used.gpu, total.gpu, quota.gpu)) return `quota: gpu ${used.gpu + total.gpu} > ${quota.gpu}`;
  }
  return undefined;
}

/** Counts an accepted group's tasks into the running totals, for the groups judged after it. */
export function acceptGroup(tasks: readonly StoredObject[], nodes: ReadonlyMap<string, BindNode>, tenant: NodeDemand): void {
  for (const t of tasks) {
    const d = taskDemand(t);
    add(nodes.get(t.spec.nodeName as string)!.used, d);
    add(tenant, d);
  }
}
