import { defaultProfile } from "../plugins/index.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import type { SnapshotTask } from "../snapshot/types.js";
import type { PreparedFilter, ReasonCount, SchedulingProfile, TaskRequest } from "./types.js";

/**
 * The filter pass the planners run (kube-scheduler's Filter extension point): which nodes may take
 * a task and why the others may not. The planners rank what passes themselves (the inference
 * planner by its cost model, `inference/options.ts`; the training planner by transfer time).
 */
export interface FilterOptions {
  /** Default: `defaultProfile()` (every filter). */
  profile?: SchedulingProfile | undefined;
  /** Leave out ResourceFit and ServerLoad (for callers that check allocation themselves). Default false. */
  skipAllocationFilters?: boolean;
}

const DEFAULT_PROFILE = defaultProfile();

/** Every node that passes the filters, in index (= name) order, or the reasons none does. */
export function feasibleNodes(snapshot: Snapshot, task: TaskRequest, options: FilterOptions = {}): { nodes: number[]; reasons: ReasonCount[] } {
  const filters = prepareFilters(snapshot, task, options.profile ?? DEFAULT_PROFILE, options.skipAllocationFilters ?? false);
  const nodes: number[] = [];
  const counts = new Map<string, number>();
  for (let i = 0; i < snapshot.nodes.length; i++) {
    const r = firstFailure(filters, i);
    if (r === undefined) nodes.push(i);
    else counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return { nodes, reasons: sortReasons(counts) };
}

/**
 * Every node that passes the filters, in index (= name) order, through the filters' fast paths.
 * Without the allocation filters the answer depends on nothing reserve/release changes: it is
 * kept on the snapshot per task shape and shared — callers must not modify it.
 */
export function passingNodes(snapshot: Snapshot, task: TaskRequest, options: FilterOptions = {}): Int32Array {
  const profile = options.profile ?? DEFAULT_PROFILE;
  if (options.skipAllocationFilters) return snapshot.memo(profile, JSON.stringify(task), () => filterAll(snapshot, task, profile, true));
  return filterAll(snapshot, task, profile, false);
}

function filterAll(snapshot: Snapshot, task: TaskRequest, profile: SchedulingProfile, skipAllocation: boolean): Int32Array {
  const filters = prepareFilters(snapshot, task, profile, skipAllocation);
  const list = Int32Array.from({ length: snapshot.nodes.length }, (_, i) => i);
  let count = list.length;
  for (let f = 0; f < filters.length && count > 0; f++) count = keep(filters[f]!, list, count);
  return list.slice(0, count);
}

/** Why a given node fails the filters for a task, or undefined when it passes. */
export function filterNode(snapshot: Snapshot, task: TaskRequest, nodeIndex: number, options: FilterOptions = {}): string | undefined {
  return firstFailure(prepareFilters(snapshot, task, options.profile ?? DEFAULT_PROFILE, options.skipAllocationFilters ?? false), nodeIndex);
}

/** Places a task on a node in the snapshot: the node's allocation and the tenant's usage grow. */
export function reserveTask(snapshot: Snapshot, task: TaskRequest, nodeIndex: number, meta: { name?: string; createdAt?: number; uid?: string; owner?: string } = {}): SnapshotTask {
  return snapshot.reserve({
    name: meta.name ?? task.name ?? "",
    namespace: task.tenant ?? "",
    node: nodeIndex,
    role: task.role ?? "serve",
    priority: task.priority ?? 0,
    createdAt: meta.createdAt ?? 0,
    resources: task.resources,
    load: task.load ?? 0,
    uid: meta.uid,
    owner: meta.owner,
  });
}

/** The profile's filters prepared for a task (those with nothing to check left out). */
export function prepareFilters(snapshot: Snapshot, task: TaskRequest, profile: SchedulingProfile, skipAllocation: boolean): PreparedFilter[] {
  const out: PreparedFilter[] = [];
  for (const p of profile.filters) {
    if (skipAllocation && p.dependsOnAllocation) continue;
    const f = p.prepare(snapshot, task);
    if (f) out.push(f);
  }
  return out;
}

/** The first filter's reason to refuse the node, or undefined. */
export function firstFailure(filters: readonly PreparedFilter[], i: number): string | undefined {
  for (const f of filters) {
    const r = f.reason(i);
    if (r !== undefined) return r;
  }
  return undefined;
}

function keep(filter: PreparedFilter, list: Int32Array, count: number): number {
  if (filter.keep) return filter.keep(list, count);
  let w = 0;
  for (let k = 0; k < count; k++) {
    const i = list[k]!;
    if (filter.reason(i) === undefined) list[w++] = i;
  }
  return w;
}

function sortReasons(counts: Map<string, number>): ReasonCount[] {
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1));
}

/** `0/5 nodes are available: 3 Insufficient cpu, 2 node(s) were not ready.` */
export function unschedulableMessage(nodeCount: number, reasons: readonly ReasonCount[]): string {
  if (nodeCount === 0) return "0/0 nodes are available: no nodes in the fleet.";
  return `0/${nodeCount} nodes are available: ${reasons.map((r) => `${r.count} ${r.reason}`).join(", ")}.`;
}
