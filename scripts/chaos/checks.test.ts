// The checks' definitions on hand-made snapshots: a ghost run (deleted, finished, moved, another
// attempt, a new uid), a lost run, a stuck task, an orphan, an unsettled workload, over-commit and
// quota by either count — and the grace period before convergence findings count.
import { describe, expect, it } from "vitest";
import type { AgentView, Run } from "./agent-view.js";
import { evaluate, newCheckState, unsettledBecause, type CheckState } from "./checks.js";
import { loadConfig } from "./config.js";
import { Ledger } from "./ledger.js";
import type { Snapshot, TaskRow, WorkloadRow } from "./snapshot.js";

const config = { ...loadConfig({ CHAOS_PRESET: "short", CHAOS_SEED: "1" }), graceS: 0, stuckS: 60 };

const task = (name: string, extra: Partial<TaskRow> = {}): TaskRow => ({
  uid: `uid-${name}`,
  namespace: "t",
  name,
  node: "n1",
  phase: "Running",
  attempt: 1,
  ownerUid: "w1",
  created: Date.now() - 1_000,
  revision: "1",
  planSize: 1,
  ...extra,
});

const workload = (extra: Partial<WorkloadRow> = {}): WorkloadRow => ({
  kind: "InferenceService",
  uid: "w1",
  namespace: "t",
  name: "svc",
  generation: 1,
  created: Date.now() - 600_000,
  deleting: false,
  status: { phase: "Running", observedGeneration: 1, planRevision: 1 },
  ...extra,
});

function snapshot(extra: Partial<Snapshot> = {}): Snapshot {
  return {
    tasks: [],
    nodes: [
      { name: "n1", phase: "Ready", capacity: { cpu: 1000, memoryMiB: 1000, tasks: 4 }, runningTasks: [] },
      { name: "n2", phase: "Ready", capacity: { cpu: 1000, memoryMiB: 1000 }, runningTasks: [] },
    ],
    workloads: [workload()],
    tenants: [{ name: "t", uid: "tenant", deleting: false, quota: { cpu: 500, tasks: 2 } }],
    objects: [],
    usageMismatches: [],
    nodeUsage: new Map(),
    namespaceUsage: new Map(),
    nodeSums: new Map(),
    namespaceSums: new Map(),
    ...extra,
  };
}

const run = (name: string, extra: Partial<Run> = {}): Run => ({ node: "n1", namespace: "t", name, uid: `uid-${name}`, attempt: 1, source: "fleet", ...extra });
const view = (runs: Run[]): AgentView => ({ runs, observed: new Set(["n1", "n2"]) });

function check(s: Snapshot, v: AgentView, state: CheckState = newCheckState(), graceS = 0) {
  return evaluate({ snapshot: s, view: v, ledger: new Ledger(), startedAt: Date.now(), config: { ...config, graceS }, state, trafficNamespaces: new Set(), settleMs: 0 });
}

describe("checks", () => {
  it("a run matching its task is no ghost; each kind of mismatch is one", () => {
    const tasks = [task("ok"), task("done", { phase: "Succeeded" }), task("moved", { node: "n2" }), task("retried", { attempt: 2 }), task("renewed", { uid: "other" })];
    const runs = [run("ok"), run("done"), run("moved"), run("retried"), run("renewed"), run("deleted")];
    const f = check(snapshot({ tasks }), view(runs));
    expect(f.ghosts.map((g) => g.split(":")[0])).toEqual(["done", "moved", "retried", "renewed", "deleted"].map((n) => `t/${n} attempt 1 on n1 (fleet)`));
  });

  it("a task Running in Postgres that its observed node does not run is a lost run", () => {
    const f = check(snapshot({ tasks: [task("a"), task("b", { node: "n3" })] }), view([]));
    // n3 is not observed (and not a Ready node here): nothing is said of it.
    expect(f.lostRuns).toHaveLength(1);
    expect(f.lostRuns[0]).toContain("t/a");
  });

  it("counts convergence findings only once seen for the grace period", () => {
    const state = newCheckState();
    const s = snapshot({ tasks: [] });
    const first = check(s, view([run("gone")]), state, 3_600);
    expect(first.ghosts).toEqual([]);
    expect(first.inFlight).toBe(1);
    expect(check(s, view([run("gone")]), state, 0).ghosts).toHaveLength(1);
  });

  it("a task Dispatched past stuckS on a Ready node is stuck; on a NotReady node it is not", () => {
    const old = Date.now() - 120_000;
    const s = snapshot({ tasks: [task("a", { phase: "Dispatched", created: old }), task("b", { phase: "Dispatched", created: old, node: "n2" }), task("c", { phase: "Dispatched" })] });
    s.nodes[1]!.phase = "NotReady";
    const f = check(s, view([run("c")]));
    expect(f.stuck).toHaveLength(1);
    expect(f.stuck[0]).toContain("t/a");
  });

  it("a task whose owner is gone is an orphan", () => {
    const f = check(snapshot({ tasks: [task("a", { ownerUid: "gone" })] }), view([run("a")]));
    expect(f.orphans).toHaveLength(1);
  });

  it("over capacity or quota by either count, and usage tables that differ, are safety findings", () => {
    const s = snapshot({
      nodeUsage: new Map([["n1", { cpu: 1200, memory: 0, gpu: 0, load: 0, tasks: 1 }]]),
      nodeSums: new Map([["n1", { cpu: 100, memory: 0, gpu: 0, load: 1.5, tasks: 5 }]]),
      namespaceSums: new Map([["t", { cpu: 600, memory: 0, gpu: 0, tasks: 3 }]]),
      usageMismatches: [{ key: "node n1", table: { tasks: "1", cpu: "1200", memory: "0", gpu: "0" }, tasks: { tasks: "5", cpu: "100", memory: "0", gpu: "0" } }],
    });
    const f = check(s, view([]));
    expect(f.overCommit).toEqual(["node n1 by node_usage: cpu 1200 > 1000", "node n1 by tasks: tasks 5 > 4, load 1.5 > 1"]);
    expect(f.quotaBreach).toEqual(["tenant t by tasks: cpu 600 > 500, tasks 3 > 2"]);
    expect(f.usageMismatch).toHaveLength(1);
  });

  it("settled: Running with its revision whole and running, Succeeded, or explicitly unschedulable", () => {
    expect(unsettledBecause(workload(), [task("a")])).toBeUndefined();
    expect(unsettledBecause(workload(), [task("a", { phase: "Dispatched" })])).toMatch(/Dispatched/);
    expect(unsettledBecause(workload(), [task("a", { planSize: 2 })])).toMatch(/1 of the 2/);
    expect(unsettledBecause(workload(), [task("a", { revision: "0" })])).toMatch(/without tasks/);
    expect(unsettledBecause(workload({ generation: 2 }), [task("a")])).toMatch(/generation/);
    const unschedulable = { phase: "Pending", observedGeneration: 1, conditions: [{ type: "Scheduled", status: "False", reason: "Unschedulable", message: "no room" }] };
    expect(unsettledBecause(workload({ status: unschedulable }), [])).toBeUndefined();
    expect(unsettledBecause(workload({ status: { ...unschedulable, conditions: [] } }), [])).toMatch(/Pending/);
    expect(unsettledBecause(workload({ kind: "TrainingJob", generation: 5, status: { phase: "Succeeded", observedGeneration: 1 } }), [])).toBeUndefined();
  });
});
