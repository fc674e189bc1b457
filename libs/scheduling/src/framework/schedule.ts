import { SchedulingError } from "../errors.js";
import { defaultProfile } from "../plugins/index.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import type { SnapshotTask } from "../snapshot/types.js";
import { quotaExceeded, quotaMessage } from "../tenancy/quota.js";
import type { PlacementResult, PreparedFilter, ReasonCount, SchedulingProfile, TaskRequest } from "./types.js";

export interface ScheduleOptions {
  /** Default: `defaultProfile()` (every filter and score, full scan). */
  profile?: SchedulingProfile;
  /**
   * Node index where the scan starts (wrapping around). With sampling, pass the previous result's
   * `nextStartIndex` so successive tasks look at different parts of the fleet. Default 0.
   */
  startIndex?: number;
  /** Leave out ResourceFit and ServerLoad (for callers that check allocation themselves). Default false. */
  skipAllocationFilters?: boolean;
}

const DEFAULT_PROFILE = defaultProfile();

/**
 * Finds the best node for one task: Filter → Score → pick (kube-scheduler's cycle, without binding).
 * The snapshot is not changed; call `reserveTask` with the result to place it. Ties go to the
 * node whose name sorts first, so results are deterministic.
 */
export function scheduleTask(snapshot: Snapshot, task: TaskRequest, options: ScheduleOptions = {}): PlacementResult {
  const n = snapshot.nodes.length;
  const start = n > 0 ? (((options.startIndex ?? 0) % n) + n) % n : 0;
  const over = quotaExceeded(snapshot, task.tenant, task.resources, 1);
  if (over.length > 0) {
    const message = quotaMessage(snapshot, task.tenant!, task.resources, 1, over);
    return { status: "Unschedulable", reasons: [{ reason: message, count: n }], message, evaluatedNodes: 0, nextStartIndex: start };
  }
  const profile = options.profile ?? DEFAULT_PROFILE;
  const filters = prepareFilters(snapshot, task, profile, options.skipAllocationFilters ?? false);
  const toFind = feasibleNodesToFind(n, profile);
  const feasible = snapshot.scratchInt("feasible", n);
  // Scan in windows (the whole fleet at once without sampling), each filter compacting the window
  // in its own tight loop; with sampling, stop at exactly `toFind` feasible nodes, as kube does.
  let found = 0;
  let scanned = 0;
  while (scanned < n && found < toFind) {
    const size = toFind >= n ? n : Math.min(n - scanned, Math.max(toFind - found, 64));
    const window = feasible.subarray(found, found + size);
    for (let k = 0; k < size; k++) {
      const i = start + scanned + k;
      window[k] = i >= n ? i - n : i;
    }
    let count = size;
    for (let f = 0; f < filters.length && count > 0; f++) count = keep(filters[f]!, window, count);
    if (found + count >= toFind && count > 0) {
      count = toFind - found;
      scanned = ((window[count - 1]! - start + n) % n) + 1;
    } else scanned += size;
    found += count;
  }
  const nextStartIndex = n > 0 ? (start + scanned) % n : 0;
  if (found === 0) {
    const reasons = collectReasons(filters, n);
    return { status: "Unschedulable", reasons, message: unschedulableMessage(n, reasons), evaluatedNodes: scanned, nextStartIndex };
  }
  const total = snapshot.scratch("total", found);
  total.fill(0, 0, found);
  const raw = snapshot.scratch("raw", found);
  const list = feasible.subarray(0, found);
  for (const { plugin, weight } of profile.scores) {
    if (weight === 0) continue;
    const score = plugin.prepare(snapshot, task);
    if (!score) continue;
    score(list, found, raw);
    if (plugin.normalize) plugin.normalize(raw, found);
    for (let k = 0; k < found; k++) {
      const s = raw[k]!;
      if (!(s >= 0 && s <= 100)) {
        throw new SchedulingError(`score plugin ${plugin.name} returned ${s} for node "${snapshot.nodes[list[k]!]!.name}" (must be 0–100)`);
      }
      total[k]! += weight * s;
    }
  }
  let best = feasible[0]!;
  let bestScore = total[0]!;
  for (let k = 1; k < found; k++) {
    const s = total[k]!;
    const i = feasible[k]!;
    // Feasible nodes come in scan order, not name order, so equal scores compare indices (= names).
    if (s > bestScore || (s === bestScore && i < best)) {
      best = i;
      bestScore = s;
    }
  }
  return {
    status: "Scheduled",
    node: snapshot.nodes[best]!.name,
    nodeIndex: best,
    score: bestScore,
    feasibleNodes: found,
    evaluatedNodes: scanned,
    nextStartIndex,
  };
}

/** Every node that passes the filters, in index (= name) order, or the reasons none does. */
export function feasibleNodes(
  snapshot: Snapshot,
  task: TaskRequest,
  options: Omit<ScheduleOptions, "startIndex"> = {},
): { nodes: number[]; reasons: ReasonCount[] } {
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
export function passingNodes(snapshot: Snapshot, task: TaskRequest, options: Omit<ScheduleOptions, "startIndex"> = {}): Int32Array {
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
export function filterNode(snapshot: Snapshot, task: TaskRequest, nodeIndex: number, options: Omit<ScheduleOptions, "startIndex"> = {}): string | undefined {
  return firstFailure(prepareFilters(snapshot, task, options.profile ?? DEFAULT_PROFILE, options.skipAllocationFilters ?? false), nodeIndex);
}

/** Places a task on a node in the snapshot: the node's allocation and the tenant's usage grow. */
export function reserveTask(
  snapshot: Snapshot,
  task: TaskRequest,
  nodeIndex: number,
  meta: { name?: string; createdAt?: number; uid?: string; owner?: string } = {},
): SnapshotTask {
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

/**
 * Places several tasks in order, reserving each before the next, so one cycle can place many.
 * With `gang`, all must fit or none is kept (the snapshot is rolled back).
 */
export function scheduleTasks(
  snapshot: Snapshot,
  tasks: readonly TaskRequest[],
  options: ScheduleOptions & { gang?: boolean } = {},
): PlacementResult[] {
  const mark = snapshot.mark();
  const results: PlacementResult[] = [];
  let start = options.startIndex ?? 0;
  for (const task of tasks) {
    const r = scheduleTask(snapshot, task, { ...options, startIndex: start });
    start = r.nextStartIndex;
    results.push(r);
    if (r.status === "Scheduled") reserveTask(snapshot, task, r.nodeIndex);
    else if (options.gang) {
      snapshot.rollback(mark);
      break;
    }
  }
  return results;
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

/** kube-scheduler's numFeasibleNodesToFind. */
export function feasibleNodesToFind(nodeCount: number, profile: Pick<SchedulingProfile, "percentageOfNodesToScore" | "minFeasibleNodesToFind">): number {
  const minFind = profile.minFeasibleNodesToFind ?? 100;
  let pct = profile.percentageOfNodesToScore ?? 100;
  if (nodeCount < minFind || pct >= 100) return nodeCount;
  if (pct <= 0) pct = Math.max(5, 50 - nodeCount / 125);
  return Math.max(minFind, Math.floor((nodeCount * pct) / 100));
}

// Reasons are gathered in a second pass only when nothing fits: the common, successful path
// then pays for no string bookkeeping.
function collectReasons(filters: readonly PreparedFilter[], n: number): ReasonCount[] {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = firstFailure(filters, i);
    if (r !== undefined) counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return sortReasons(counts);
}

function sortReasons(counts: Map<string, number>): ReasonCount[] {
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1));
}

/** `0/5 nodes are available: 3 Insufficient cpu, 2 node(s) were not ready.` */
export function unschedulableMessage(nodeCount: number, reasons: readonly ReasonCount[]): string {
  if (nodeCount === 0) return "0/0 nodes are available: no nodes in the fleet.";
  return `0/${nodeCount} nodes are available: ${reasons.map((r) => `${r.count} ${r.reason}`).join(", ")}.`;
}
