// The checks of one sample, from one Postgres snapshot, the agents' runtimes and the ledger.
//
// Safety (must hold at every sample): no node over its capacity and no tenant over its quota,
// whether counted by the usage tables or recomputed from the tasks; the usage tables equal the
// sums over the tasks; the ledger (nothing lost, resurrected, edited back or made up).
//
// Convergence (must hold again after each fault; counted once seen for `graceS`, so work in flight
// is not mistaken for divergence):
// - ghost run: an agent's runtime runs a task attempt that Postgres has deleted, finished, or
//   assigned to another attempt or node (or a task of the same name with another uid);
// - reported ghost: a Ready node's last heartbeat (EdgeNode.status.runningTasks) names a task that
//   has no unfinished task of that name on that node;
// - lost run: a task Running in Postgres on a Ready node whose runtime is observed not running it;
// - stuck: a task Dispatched (or Scheduled) longer than `stuckS` on a Ready node;
// - orphan: a task whose owner (ownerReference uid) no longer exists;
// - unsettled: a live workload last written more than `settleS` ago that is not Running (its
//   current plan revision whole and running), Succeeded, or explicitly unschedulable (condition
//   Scheduled=False with a reason and a message), or whose status is not of its generation.
import type { AgentView } from "./agent-view.js";
import type { ChaosConfig } from "./config.js";
import type { Ledger, LedgerFindings } from "./ledger.js";
import type { Snapshot, TaskRow, WorkloadRow } from "./snapshot.js";

const EPS = 1e-9;

export interface Findings {
  overCommit: string[];
  quotaBreach: string[];
  usageMismatch: string[];
  ledger: LedgerFindings;
  ghosts: string[];
  reportedGhosts: string[];
  lostRuns: string[];
  stuck: string[];
  orphans: string[];
  unsettled: string[];
  /** Convergence findings seen for less than the grace period (not counted). */
  inFlight: number;
  /** Nodes not Ready, with their phase (for the timeline). */
  notReady: string[];
  /** What the sample saw, for the report: workloads by state, tasks by phase, runs by runtime. */
  stats: { workloads: Record<string, number>; tasks: Record<string, number>; runs: Record<string, number> };
}

export const SAFETY = ["overCommit", "quotaBreach", "usageMismatch"] as const;
export const CONVERGENCE = ["ghosts", "reportedGhosts", "lostRuns", "stuck", "orphans", "unsettled"] as const;
export const LEDGER = ["lost", "resurrected", "staleEdits", "phantoms"] as const;

/** When each finding was first seen, forgotten as soon as a sample no longer has it. */
export class FirstSeen {
  private readonly seen = new Map<string, number>();

  /** Records this sample's keys; returns the age (ms) of each. */
  update(keys: Iterable<string>, now: number): Map<string, number> {
    const ages = new Map<string, number>();
    for (const k of keys) {
      const first = this.seen.get(k) ?? now;
      ages.set(k, now - first);
    }
    for (const k of this.seen.keys()) if (!ages.has(k)) this.seen.delete(k);
    for (const [k, age] of ages) this.seen.set(k, now - age);
    return ages;
  }
}

export interface CheckState {
  ghosts: FirstSeen;
  reportedGhosts: FirstSeen;
  lostRuns: FirstSeen;
  orphans: FirstSeen;
  /** A re-dispatched attempt's Dispatched time is when a sample first saw it. */
  dispatched: FirstSeen;
}

export function newCheckState(): CheckState {
  return { ghosts: new FirstSeen(), reportedGhosts: new FirstSeen(), lostRuns: new FirstSeen(), orphans: new FirstSeen(), dispatched: new FirstSeen() };
}

const finished = (phase: string) => phase === "Succeeded" || phase === "Failed";

export interface CheckInput {
  snapshot: Snapshot;
  view: AgentView;
  ledger: Ledger;
  /** When the agent view was read (before the snapshot). */
  startedAt: number;
  config: ChaosConfig;
  state: CheckState;
  trafficNamespaces: Set<string>;
  /** Workloads written more recently than this are not required to have settled yet. */
  settleMs: number;
}

export function evaluate(i: CheckInput): Findings {
  const { snapshot: s, config, state } = i;
  const now = Date.now();
  const graceMs = config.graceS * 1000;
  let inFlight = 0;
  /** Keeps the findings seen for the grace period; counts the others as in flight. */
  const aged = (tracker: FirstSeen, found: Map<string, string>, extraMs = 0): string[] => {
    const ages = tracker.update(found.keys(), now);
    const out: string[] = [];
    for (const [k, text] of found) {
      if ((ages.get(k) ?? 0) >= graceMs + extraMs) out.push(`${text} (for ${Math.round((ages.get(k) ?? 0) / 1000)} s)`);
      else inFlight++;
    }
    return out;
  };
  const runs = runFindings(s, i.view);
  const workloads = workloadFindings(s, i.ledger, i.settleMs, now);
  return {
    ...capacityFindings(s),
    ledger: i.ledger.check(s.objects, i.startedAt, i.trafficNamespaces),
    ghosts: aged(state.ghosts, runs.ghosts),
    // What agents report may be a heartbeat old, and is written on change.
    reportedGhosts: aged(state.reportedGhosts, runs.reported, 2 * config.heartbeatS * 1000),
    lostRuns: aged(state.lostRuns, runs.lost),
    stuck: stuckTasks(s, state, config.stuckS * 1000, now),
    orphans: aged(state.orphans, orphanTasks(s)),
    unsettled: workloads.unsettled,
    inFlight,
    notReady: s.nodes.filter((n) => n.phase !== "Ready").map((n) => `${n.name}:${n.phase}`),
    stats: { workloads: workloads.states, tasks: tally(s.tasks.map((t) => t.phase)), runs: tally(i.view.runs.map((r) => (r.source === "fleet" ? "fleet" : "processes"))) },
  };
}

/** Ghost runs, reported ghosts and lost runs, keyed so that the same one is tracked across samples. */
function runFindings(s: Snapshot, view: AgentView): { ghosts: Map<string, string>; reported: Map<string, string>; lost: Map<string, string> } {
  const ready = new Set(s.nodes.filter((n) => n.phase === "Ready").map((n) => n.name));
  const byName = new Map<string, TaskRow>(s.tasks.map((t) => [`${t.namespace}/${t.name}`, t]));

  // Ghost runs: from the runtimes' own view.
  const ghosts = new Map<string, string>();
  const running = new Set<string>();
  for (const r of view.runs) {
    running.add(`${r.node}|${r.uid}|${r.attempt}`);
    const t = byName.get(`${r.namespace}/${r.name}`);
    let why: string | undefined;
    if (!t) why = "deleted";
    else if (t.uid !== r.uid) why = `deleted (a task of that name now has uid ${t.uid})`;
    else if (t.node !== r.node) why = `bound to ${t.node}`;
    else if (t.attempt !== r.attempt) why = `attempt ${t.attempt} is current`;
    else if (finished(t.phase)) why = `${t.phase} in Postgres`;
    if (why) ghosts.set(`${r.node}|${r.uid}|${r.attempt}`, `${r.namespace}/${r.name} attempt ${r.attempt} on ${r.node} (${r.source}): ${why}`);
  }

  // Reported ghosts: what Ready nodes' heartbeats say they run.
  const reported = new Map<string, string>();
  const unfinishedOn = new Map<string, TaskRow[]>();
  for (const t of s.tasks) if (!finished(t.phase)) unfinishedOn.set(t.node, [...(unfinishedOn.get(t.node) ?? []), t]);
  for (const n of s.nodes) {
    if (!ready.has(n.name)) continue;
    for (const entry of n.runningTasks) {
      // Names only today; "namespace/name" (and a trailing "/attempt") are understood too.
      const parts = String(entry).split("/");
      const [ns, name] = parts.length >= 2 ? [parts[0], parts[1]] : [undefined, parts[0]];
      const match = (unfinishedOn.get(n.name) ?? []).some((t) => t.name === name && (ns === undefined || t.namespace === ns));
      if (!match) reported.set(`${n.name}|${entry}`, `${n.name} reports ${entry} running: no unfinished task of that name on it`);
    }
  }

  // Lost runs: Running in Postgres, not in an observed runtime.
  const lost = new Map<string, string>();
  for (const t of s.tasks) {
    if (t.phase !== "Running" || !view.observed.has(t.node) || !ready.has(t.node)) continue;
    if (!running.has(`${t.node}|${t.uid}|${t.attempt}`)) lost.set(`${t.uid}|${t.attempt}`, `${t.namespace}/${t.name} attempt ${t.attempt}: Running on ${t.node}, which does not run it`);
  }
  return { ghosts, reported, lost };
}

/** Tasks Dispatched (or Scheduled) longer than `stuckMs` on a Ready node. */
function stuckTasks(s: Snapshot, state: CheckState, stuckMs: number, now: number): string[] {
  const ready = new Set(s.nodes.filter((n) => n.phase === "Ready").map((n) => n.name));
  const waiting = s.tasks.filter((t) => t.phase === "Dispatched" || t.phase === "Scheduled");
  const ages = state.dispatched.update(
    waiting.map((t) => `${t.uid}|${t.attempt}`),
    now,
  );
  const stuck: string[] = [];
  for (const t of waiting) {
    // A first attempt is created Dispatched; a later one is dated from the first sample that saw it.
    const age = t.attempt <= 1 ? now - t.created : (ages.get(`${t.uid}|${t.attempt}`) ?? 0);
    if (ready.has(t.node) && age > stuckMs) stuck.push(`${t.namespace}/${t.name} attempt ${t.attempt}: ${t.phase} on Ready ${t.node} for ${Math.round(age / 1000)} s`);
  }
  return stuck;
}

function orphanTasks(s: Snapshot): Map<string, string> {
  const owners = new Set(s.workloads.map((w) => w.uid));
  const orphans = new Map<string, string>();
  for (const t of s.tasks) if (t.ownerUid && !owners.has(t.ownerUid)) orphans.set(t.uid, `${t.namespace}/${t.name} (${t.phase}): owner ${t.ownerUid} is gone`);
  return orphans;
}

/** Live workloads last written more than `settleMs` ago that have not settled; and every state. */
function workloadFindings(s: Snapshot, ledger: Ledger, settleMs: number, now: number): { unsettled: string[]; states: Record<string, number> } {
  const lastWrite = new Map<string, number>();
  for (const e of ledger.entries) if (e.uid) lastWrite.set(e.uid, Math.max(...e.ops.map((o) => o.start)));
  const terminating = new Set(s.tenants.filter((t) => t.deleting).map((t) => t.name));
  const tasksOf = new Map<string, TaskRow[]>();
  for (const t of s.tasks) if (t.ownerUid) tasksOf.set(t.ownerUid, [...(tasksOf.get(t.ownerUid) ?? []), t]);
  const unsettled: string[] = [];
  const states: Record<string, number> = {};
  for (const w of s.workloads) {
    const state = w.deleting ? "deleting" : workloadState(w);
    states[state] = (states[state] ?? 0) + 1;
    if (w.deleting || terminating.has(w.namespace)) continue;
    const last = Math.max(w.created, lastWrite.get(w.uid) ?? 0);
    if (now - last < settleMs) continue;
    const why = unsettledBecause(w, tasksOf.get(w.uid) ?? []);
    if (why) unsettled.push(`${w.kind} ${w.namespace}/${w.name}: ${why} (last written ${Math.round((now - last) / 1000)} s ago)`);
  }
  return { unsettled, states };
}

/** Over-commit and quota breaches by the usage tables and by the tasks; the tables' mismatches. */
function capacityFindings(s: Snapshot): Pick<Findings, "overCommit" | "quotaBreach" | "usageMismatch"> {
  const overCommit: string[] = [];
  for (const n of s.nodes) {
    const cap = n.capacity;
    for (const [source, u] of [
      ["node_usage", s.nodeUsage.get(n.name)],
      ["tasks", s.nodeSums.get(n.name)],
    ] as const) {
      if (!u) continue;
      const over: string[] = [];
      if (u.cpu > (cap.cpu ?? 0) + EPS) over.push(`cpu ${u.cpu} > ${cap.cpu ?? 0}`);
      if (u.memory > (cap.memoryMiB ?? 0) + EPS) over.push(`memory ${u.memory} > ${cap.memoryMiB ?? 0}`);
      if (u.gpu > (cap.gpu ?? 0) + EPS) over.push(`gpu ${u.gpu} > ${cap.gpu ?? 0}`);
      if (cap.tasks !== undefined && u.tasks > cap.tasks) over.push(`tasks ${u.tasks} > ${cap.tasks}`);
      // The binder's load bound: one per GPU, or 1 without (as the scheduler's binding tests hold).
      const loadCap = (cap.gpu ?? 0) > 0 ? cap.gpu! : 1;
      if (u.load > loadCap + EPS) over.push(`load ${u.load} > ${loadCap}`);
      if (over.length) overCommit.push(`node ${n.name} by ${source}: ${over.join(", ")}`);
    }
  }
  const quotaBreach: string[] = [];
  for (const t of s.tenants) {
    const q = t.quota;
    for (const [source, u] of [
      ["namespace_usage", s.namespaceUsage.get(t.name)],
      ["tasks", s.namespaceSums.get(t.name)],
    ] as const) {
      if (!u) continue;
      const over: string[] = [];
      if (q.cpu !== undefined && u.cpu > q.cpu + EPS) over.push(`cpu ${u.cpu} > ${q.cpu}`);
      if (q.memoryMiB !== undefined && u.memory > q.memoryMiB + EPS) over.push(`memory ${u.memory} > ${q.memoryMiB}`);
      if (q.gpu !== undefined && u.gpu > q.gpu + EPS) over.push(`gpu ${u.gpu} > ${q.gpu}`);
      if (q.tasks !== undefined && u.tasks > q.tasks) over.push(`tasks ${u.tasks} > ${q.tasks}`);
      if (over.length) quotaBreach.push(`tenant ${t.name} by ${source}: ${over.join(", ")}`);
    }
  }
  const usageMismatch = s.usageMismatches.map((m) => `${m.key}: table ${JSON.stringify(m.table)} vs tasks ${JSON.stringify(m.tasks)}`);
  return { overCommit, quotaBreach, usageMismatch };
}

function tally(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of items) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/** A workload's state in one word, for the report. */
function workloadState(w: WorkloadRow): string {
  const scheduled = (w.status?.conditions ?? []).find((c: any) => c.type === "Scheduled");
  if (scheduled?.status === "False") return `${w.status?.phase ?? "Pending"}/${scheduled.reason}`;
  return w.status?.phase ?? "new";
}

/** Why a live workload is not settled, or undefined when it is. */
export function unsettledBecause(w: WorkloadRow, tasks: readonly TaskRow[]): string | undefined {
  const s = w.status ?? {};
  const scheduled = (s.conditions ?? []).find((c: any) => c.type === "Scheduled");
  if (w.kind === "TrainingJob" && s.phase === "Succeeded") return undefined;
  if (s.observedGeneration !== w.generation) return `status of generation ${s.observedGeneration ?? "none"}, spec of ${w.generation}`;
  if (scheduled?.status === "False" && scheduled.reason && scheduled.message) return undefined;
  if (s.phase !== "Running") return `phase ${s.phase ?? "none"}`;
  const current = tasks.filter((t) => t.revision === String(s.planRevision));
  if (current.length === 0) return `Running without tasks of plan revision ${s.planRevision}`;
  const size = current[0]!.planSize;
  if (size !== undefined && current.length < size) return `${current.length} of the ${size} tasks of plan revision ${s.planRevision}`;
  const notRunning = current.filter((t) => !(t.phase === "Running" || (w.kind === "TrainingJob" && t.phase === "Succeeded")));
  if (notRunning.length) return `Running, but tasks of its plan revision are ${[...new Set(notRunning.map((t) => t.phase))].join(", ")}`;
  return undefined;
}
