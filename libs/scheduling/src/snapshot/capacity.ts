import type { Condition } from "@eiaas/api";

/**
 * The capacity rules: what a node may take. One definition, read by the planners (through
 * `Snapshot.fits`/`fitsLoad`/`hasTaskSlots` and the NodeReady filter) and by the binder's re-check
 * of a plan under its lock (libs/db `bindTasks`), so a plan the planner accepts is one the binder
 * accepts on the same state, and the other way round (`capacity-rules.test.ts` in libs/db holds
 * both paths to the same table of nodes at the edge of each rule).
 */

/**
 * Absolute slack on every capacity comparison (cpu, memory, gpu, load), so sums of fractions do
 * not fail by rounding. Absolute, not relative: the same on a 1-GPU and an 8-GPU server.
 */
export const CAPACITY_SLACK = 1e-9;

/** What a node can hold. `tasks`: most unfinished tasks at once, Infinity when unlimited. */
export interface NodeCapacity {
  cpu: number;
  memoryMiB: number;
  gpu: number;
  /** Most load (busy fraction) the node may carry: {@link loadCapacityOf}. */
  load: number;
  tasks: number;
}

/** What is on a node, or what is asked of it: requests, load and tasks. */
export interface NodeDemand {
  cpu: number;
  memoryMiB: number;
  gpu: number;
  load: number;
  tasks: number;
}

/** The rule a demand breaks on a node. */
export type CapacityShortfall = "cpu" | "memoryMiB" | "gpu" | "load" | "tasks";

/** Most load a node may carry: its gpu count when it has GPUs, else 1 (one busy processor). */
export function loadCapacityOf(gpu: number): number {
  return gpu > 0 ? gpu : 1;
}

/** A node's task-slot limit: `tasks` from its spec when positive, else Infinity (unlimited). */
export function taskSlotsOf(tasks: number | undefined): number {
  return tasks !== undefined && tasks > 0 ? tasks : Infinity;
}

/** The capacity of a node from its spec's `capacity` (absent or non-numeric values count as 0). */
export function nodeCapacity(capacity: Partial<Record<"cpu" | "memoryMiB" | "gpu" | "tasks", unknown>> | undefined): NodeCapacity {
  const gpu = amount(capacity?.gpu);
  return { cpu: amount(capacity?.cpu), memoryMiB: amount(capacity?.memoryMiB), gpu, load: loadCapacityOf(gpu), tasks: taskSlotsOf(amount(capacity?.tasks)) };
}

/**
 * Whether `used + request` stays within `capacity` in one dimension. As in Kubernetes, a dimension
 * not asked for is not checked: a zero request fits even an over-committed node.
 */
export function fitsWithin(used: number, request: number, capacity: number): boolean {
  return !(request > 0) || used + request <= capacity + CAPACITY_SLACK;
}

/** Whether `n` more tasks fit a node's task slots. */
export function fitsSlots(used: number, n: number, slots: number): boolean {
  return !(n > 0) || used + n <= slots;
}

/** The first rule `request` breaks on a node holding `used`, or undefined when it fits. */
export function capacityShortfall(capacity: Readonly<NodeCapacity>, used: Readonly<NodeDemand>, request: Readonly<NodeDemand>): CapacityShortfall | undefined {
  if (!fitsWithin(used.cpu, request.cpu, capacity.cpu)) return "cpu";
  if (!fitsWithin(used.memoryMiB, request.memoryMiB, capacity.memoryMiB)) return "memoryMiB";
  if (!fitsWithin(used.gpu, request.gpu, capacity.gpu)) return "gpu";
  if (!fitsWithin(used.load, request.load, capacity.load)) return "load";
  if (!fitsSlots(used.tasks, request.tasks, capacity.tasks)) return "tasks";
  return undefined;
}

/** Ready unless the status says otherwise (phase NotReady, or a Ready condition that is not True). */
export function isReady(status: { phase?: string | null; conditions?: readonly { type: string; status: Condition["status"] | string }[] | null } | null | undefined): boolean {
  if (!status) return true;
  if (status.phase === "NotReady") return false;
  const c = status.conditions?.find((x) => x.type === "Ready");
  return c ? c.status === "True" : true;
}

/** Why a node takes no new task (not Ready, cordoned), or undefined when it may. */
export function unschedulableReason(ready: boolean, unschedulable: boolean | undefined): "NotReady" | "Cordoned" | undefined {
  return !ready ? "NotReady" : unschedulable ? "Cordoned" : undefined;
}

/** A finite number, else 0: what a missing or malformed amount counts as. */
export function amount(v: unknown): number {
  const n = typeof v === "number" ? v : Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}
