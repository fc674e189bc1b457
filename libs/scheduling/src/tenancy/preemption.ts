import { defaultProfile } from "../plugins/index.js";
import { firstFailure, prepareFilters, unschedulableMessage } from "../framework/filter.js";
import type { ReasonCount, SchedulingProfile, TaskRequest } from "../framework/types.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import type { SnapshotTask } from "../snapshot/types.js";
import { effectivePriority } from "./fair-share.js";
import { quotaExceeded, quotaMessage } from "./quota.js";

export interface PreemptionOptions {
  /** Default: `defaultProfile()`; its allocation-independent filters decide which nodes qualify. */
  profile?: SchedulingProfile;
  /**
   * Most victim subsets tried per node when searching for the fewest victims; past it, a greedy
   * choice (most preferred victims first, then reprieve what is not needed) is used. Default 4096.
   */
  maxSubsetsPerNode?: number;
}

export type PreemptionResult = { status: "Victims"; node: string; nodeIndex: number; victims: SnapshotTask[] } | { status: "NotPossible"; reason: string };

const DEFAULT_PROFILE = defaultProfile();

/**
 * Which tasks to evict so `task` fits (design.md §5): only tasks of lower priority, all on ONE node;
 * the fewest, then those of the lowest priority (highest victim priority, then sum), then the newest
 * (latest oldest victim), then the node's name. Never for a tenant that the task would take over
 * its quota. Priorities count as capped by their tenants (`effectivePriority`), the preemptor's and
 * the victims'. Pure: the snapshot is not changed (call `snapshot.release` for each victim to apply).
 */
export function selectPreemptionVictims(snapshot: Snapshot, task: TaskRequest, options: PreemptionOptions = {}): PreemptionResult {
  if (task.tenant !== undefined) {
    const over = quotaExceeded(snapshot, task.tenant, task.resources, 1);
    if (over.length > 0) return { status: "NotPossible", reason: `no preemption for a tenant over its quota: ${quotaMessage(snapshot, task.tenant, task.resources, 1, over)}` };
  }
  const filters = prepareFilters(snapshot, task, options.profile ?? DEFAULT_PROFILE, true);
  const priority = task.tenant !== undefined ? effectivePriority(snapshot, { namespace: task.tenant, priority: task.priority }) : (task.priority ?? 0);
  const { cpu, memoryMiB, gpu } = task.resources;
  const load = task.load ?? 0;
  const maxSubsets = options.maxSubsetsPerNode ?? 4096;
  const a = snapshot.allocated;
  const counts = new Map<string, number>();
  let best: Choice | undefined;

  for (let i = 0; i < snapshot.nodes.length; i++) {
    const why = firstFailure(filters, i);
    if (why !== undefined) {
      counts.set(why, (counts.get(why) ?? 0) + 1);
      continue;
    }
    const node = snapshot.nodes[i]!;
    // What must be freed per dimension; only requested dimensions count, as in ResourceFit.
    const need = [
      cpu > 0 ? a.cpu[i]! + cpu - node.capacity.cpu : 0,
      memoryMiB > 0 ? a.memoryMiB[i]! + memoryMiB - node.capacity.memoryMiB : 0,
      gpu > 0 ? a.gpu[i]! + gpu - node.capacity.gpu : 0,
      load > 0 ? a.load[i]! + load - node.loadCapacity : 0,
    ].map((x) => (x > 1e-9 ? x : 0));
    if (need.every((x) => x === 0)) {
      const c: Choice = { node: i, victims: [] };
      if (!best || better(c, best)) best = c;
      continue;
    }
    const candidates = snapshot
      .tasksOn(i)
      .filter((t) => !t.held && effectivePriority(snapshot, t) < priority)
      .sort(preference);
    if (candidates.length === 0 || (best && best.victims.length === 0)) {
      counts.set("node(s) had no lower-priority tasks to preempt", (counts.get("node(s) had no lower-priority tasks to preempt") ?? 0) + 1);
      continue;
    }
    const frees = candidates.map((t) => [t.resources.cpu, t.resources.memoryMiB, t.resources.gpu, t.load]);
    const lower = lowerBound(frees, need);
    if (lower === undefined) {
      counts.set(
        "node(s) would not fit the task even after preempting every lower-priority task",
        (counts.get("node(s) would not fit the task even after preempting every lower-priority task") ?? 0) + 1,
      );
      continue;
    }
    if (best && lower > best.victims.length) continue;
    const picked = fewestVictims(frees, need, lower, best ? best.victims.length : candidates.length, maxSubsets);
    if (!picked) continue;
    const c: Choice = { node: i, victims: picked.map((k) => candidates[k]!) };
    if (!best || better(c, best)) best = c;
  }
  if (!best) {
    const reasons: ReasonCount[] = [...counts].map(([reason, count]) => ({ reason, count })).sort((x, y) => y.count - x.count);
    return { status: "NotPossible", reason: unschedulableMessage(snapshot.nodes.length, reasons) };
  }
  return { status: "Victims", node: snapshot.nodes[best.node]!.name, nodeIndex: best.node, victims: best.victims };
}

interface Choice {
  node: number;
  victims: SnapshotTask[];
}

/** Preferred victims first: lowest priority, then newest, then name. */
function preference(x: SnapshotTask, y: SnapshotTask): number {
  return x.priority - y.priority || y.createdAt - x.createdAt || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);
}

function better(c: Choice, b: Choice): boolean {
  if (c.victims.length !== b.victims.length) return c.victims.length < b.victims.length;
  const cMax = Math.max(-Infinity, ...c.victims.map((v) => v.priority));
  const bMax = Math.max(-Infinity, ...b.victims.map((v) => v.priority));
  if (cMax !== bMax) return cMax < bMax;
  const cSum = c.victims.reduce((s, v) => s + v.priority, 0);
  const bSum = b.victims.reduce((s, v) => s + v.priority, 0);
  if (cSum !== bSum) return cSum < bSum;
  const cOld = Math.min(Infinity, ...c.victims.map((v) => v.createdAt));
  const bOld = Math.min(Infinity, ...b.victims.map((v) => v.createdAt));
  if (cOld !== bOld) return cOld > bOld;
  return c.node < b.node;
}

/** Fewest victims any subset could be, from each dimension's largest contributions; undefined if even all do not suffice. */
function lowerBound(frees: readonly number[][], need: readonly number[]): number | undefined {
  let lower = 0;
  for (let d = 0; d < need.length; d++) {
    if (need[d] === 0) continue;
    const sorted = frees.map((f) => f[d]!).sort((x, y) => y - x);
    let sum = 0;
    let k = 0;
    while (k < sorted.length && sum < need[d]! - 1e-9) sum += sorted[k++]!;
    if (sum < need[d]! - 1e-9) return undefined;
    lower = Math.max(lower, k);
  }
  return lower;
}

function covers(frees: readonly number[][], pick: readonly number[], need: readonly number[]): boolean {
  for (let d = 0; d < need.length; d++) {
    if (need[d] === 0) continue;
    let sum = 0;
    for (const k of pick) sum += frees[k]![d]!;
    if (sum < need[d]! - 1e-9) return false;
  }
  return true;
}

/**
 * The fewest candidates (indices into the preference-sorted list) that free `need`, at most `upTo`:
 * sizes are tried from `lower` up, subsets of a size in lexicographic order of preference, so the
 * first that fits is also the most preferred of that size. Falls back to greedy when the subset
 * budget runs out.
 */
function fewestVictims(frees: readonly number[][], need: readonly number[], lower: number, upTo: number, maxSubsets: number): number[] | undefined {
  const n = frees.length;
  let budget = maxSubsets;
  for (let k = Math.max(1, lower); k <= Math.min(upTo, n); k++) {
    const pick = Array.from({ length: k }, (_, x) => x);
    for (;;) {
      if (budget-- <= 0) return greedy(frees, need, upTo);
      if (covers(frees, pick, need)) return pick;
      let x = k - 1;
      while (x >= 0 && pick[x] === n - k + x) x--;
      if (x < 0) break;
      pick[x]!++;
      for (let y = x + 1; y < k; y++) pick[y] = pick[y - 1]! + 1;
    }
  }
  return undefined;
}

/** Most preferred victims until the task fits, then give back (least preferred first) any not needed. */
function greedy(frees: readonly number[][], need: readonly number[], upTo: number): number[] | undefined {
  const pick: number[] = [];
  for (let k = 0; k < frees.length && !covers(frees, pick, need); k++) pick.push(k);
  if (!covers(frees, pick, need)) return undefined;
  for (let x = pick.length - 1; x >= 0; x--) {
    const without = pick.filter((_, y) => y !== x);
    if (covers(frees, without, need)) pick.splice(x, 1);
  }
  return pick.length <= upTo ? pick : undefined;
}
