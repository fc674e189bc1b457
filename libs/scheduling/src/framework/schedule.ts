import { SchedulingError } from "../errors.js";
import { defaultProfile } from "../plugins/index.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import type { SnapshotTask } from "../snapshot/types.js";
import { quotaExceeded, quotaMessage } from "../tenancy/quota.js";
import type { NodeFilter, NodeScorer, PlacementResult, ReasonCount, SchedulingProfile, TaskRequest } from "./types.js";

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
  const feasible = snapshot.scratch("feasible", n);
  let found = 0;
  let scanned = 0;
  const nf = filters.length;
  while (scanned < n && found < toFind) {
    let i = start + scanned;
    if (i >= n) i -= n;
    scanned++;
    let ok = true;
    for (let f = 0; f < nf; f++) {
      if (filters[f]!(i) !== undefined) {
        ok = false;
        break;
      }
    }
    if (ok) feasible[found++] = i;
  }
  const nextStartIndex = n > 0 ? (start + scanned) % n : 0;
  if (found === 0) {
    const reasons = collectReasons(filters, n);
    return { status: "Unschedulable", reasons, message: unschedulableMessage(n, reasons), evaluatedNodes: scanned, nextStartIndex };
  }
  const total = snapshot.scratch("total", found);
  total.fill(0, 0, found);
  const raw = snapshot.scratch("raw", found);
  for (const { plugin, weight } of profile.scores) {
    if (weight === 0) continue;
    const scorer: NodeScorer | undefined = plugin.prepare(snapshot, task);
    if (!scorer) continue;
    for (let k = 0; k < found; k++) raw[k] = scorer(feasible[k]!);
    if (plugin.normalize) plugin.normalize(raw, found);
    for (let k = 0; k < found; k++) {
      const s = raw[k]!;
      if (!(s >= 0 && s <= 100)) {
        throw new SchedulingError(`score plugin ${plugin.name} returned ${s} for node "${snapshot.nodes[feasible[k]!]!.name}" (must be 0–100)`);
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

export function prepareFilters(snapshot: Snapshot, task: TaskRequest, profile: SchedulingProfile, skipAllocation: boolean): NodeFilter[] {
  const out: NodeFilter[] = [];
  for (const p of profile.filters) {
    if (skipAllocation && p.dependsOnAllocation) continue;
    const f = p.prepare(snapshot, task);
    if (f) out.push(f);
  }
  return out;
}

function firstFailure(filters: readonly NodeFilter[], i: number): string | undefined {
  for (const f of filters) {
    const r = f(i);
    if (r !== undefined) return r;
  }
  return undefined;
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
function collectReasons(filters: readonly NodeFilter[], n: number): ReasonCount[] {
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
