import { describe, expect, it } from "vitest";
import { SchedulingError } from "../errors.js";
import { defaultProfile, leastAllocated } from "../plugins/index.js";
import { edge, snapshot } from "../testing/builders.js";
import { feasibleNodes, feasibleNodesToFind, filterNode, passingNodes, reserveTask, scheduleTask, scheduleTasks } from "./schedule.js";
import type { ScorePlugin, TaskRequest } from "./types.js";

const task = (cpu: number, o: Partial<TaskRequest> = {}): TaskRequest => ({ resources: { cpu, memoryMiB: 0, gpu: 0 }, ...o });

describe("scheduleTask", () => {
  it("picks the highest weighted score and reserves nothing by itself", () => {
    const s = snapshot([
      edge("busy", { capacity: { cpu: 1000, memoryMiB: 1000, gpu: 0 }, allocated: { cpu: 800, memoryMiB: 800 } }),
      edge("idle", { capacity: { cpu: 1000, memoryMiB: 1000, gpu: 0 } }),
    ]);
    const r = scheduleTask(s, task(100));
    expect(r).toMatchObject({ status: "Scheduled", node: "idle", feasibleNodes: 2, evaluatedNodes: 2 });
    expect(s.allocationOf(s.nodeIndex("idle")).cpu).toBe(0);
  });

  it("breaks score ties by node name, whatever the scan start", () => {
    const s = snapshot(["c", "a", "b"].map((n) => edge(n)));
    for (const startIndex of [0, 1, 2]) expect(scheduleTask(s, task(1), { startIndex })).toMatchObject({ node: "a" });
  });

  it("explains why no node fits, as kube-scheduler does", () => {
    const s = snapshot([
      edge("small", { capacity: { cpu: 100, memoryMiB: 100, gpu: 0 } }),
      edge("down", { ready: false }),
      edge("tainted", { taints: [{ key: "k", effect: "NoSchedule" }] }),
      edge("small2", { capacity: { cpu: 100, memoryMiB: 100, gpu: 0 } }),
    ]);
    const r = scheduleTask(s, task(500));
    expect(r.status).toBe("Unschedulable");
    if (r.status !== "Unschedulable") return;
    expect(r.reasons).toEqual([
      { reason: "Insufficient cpu", count: 2 },
      { reason: "node(s) had untolerated taint {k: }", count: 1 },
      { reason: "node(s) were not ready", count: 1 },
    ]);
    expect(r.message).toBe("0/4 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {k: }, 1 node(s) were not ready.");
  });

  it("refuses a task its tenant's quota cannot hold", () => {
    const s = snapshot([edge("e")], { tenants: [{ name: "t", quota: { cpu: 100, tasks: 5 } }] });
    const r = scheduleTask(s, task(101, { tenant: "t" }));
    expect(r.status).toBe("Unschedulable");
    if (r.status === "Unschedulable") expect(r.message).toBe('exceeded quota of tenant "t": cpu (used 0 + requested 101 > 100)');
    expect(scheduleTask(s, task(100, { tenant: "t" })).status).toBe("Scheduled");
  });

  it("samples deterministically from the start index and reports where to continue", () => {
    const nodes = Array.from({ length: 300 }, (_, i) => edge(`n${String(i).padStart(3, "0")}`));
    const s = snapshot(nodes);
    const profile = defaultProfile({ percentageOfNodesToScore: 10, minFeasibleNodesToFind: 50 });
    expect(feasibleNodesToFind(300, profile)).toBe(50);
    const r1 = scheduleTask(s, task(1), { profile, startIndex: 280 });
    expect(r1).toMatchObject({ status: "Scheduled", feasibleNodes: 50, evaluatedNodes: 50, nextStartIndex: 30, node: "n000" });
    const r2 = scheduleTask(s, task(1), { profile, startIndex: 30 });
    expect(r2).toMatchObject({ node: "n030", nextStartIndex: 80 });
    expect(scheduleTask(s, task(1), { profile, startIndex: 30 })).toEqual(r2);
  });

  it("stops sampling at exactly the number of feasible nodes wanted, skipping infeasible ones", () => {
    const nodes = Array.from({ length: 200 }, (_, i) => edge(`n${String(i).padStart(3, "0")}`, { ready: i % 2 === 0 }));
    const profile = defaultProfile({ percentageOfNodesToScore: 1, minFeasibleNodesToFind: 100 });
    const r = scheduleTask(snapshot(nodes), task(1), { profile });
    expect(r).toMatchObject({ feasibleNodes: 100, evaluatedNodes: 199, nextStartIndex: 199 });
  });

  it("computes kube's adaptive sample size", () => {
    expect(feasibleNodesToFind(50, { percentageOfNodesToScore: 0 })).toBe(50);
    expect(feasibleNodesToFind(5000, { percentageOfNodesToScore: 0 })).toBe(500);
    expect(feasibleNodesToFind(100_000, { percentageOfNodesToScore: 0 })).toBe(5000);
    expect(feasibleNodesToFind(5000, {})).toBe(5000);
  });

  it("throws SchedulingError for a score plugin out of range", () => {
    const broken: ScorePlugin = { name: "Broken", prepare: () => (_l, count, out) => out.fill(101, 0, count) };
    const s = snapshot([edge("e")]);
    expect(() => scheduleTask(s, task(1), { profile: defaultProfile({ scores: [{ plugin: broken, weight: 1 }] }) })).toThrow(SchedulingError);
  });

  it("uses a filter's reason when it has no fast path", () => {
    const s = snapshot([edge("a"), edge("b")]);
    const onlyB = { name: "OnlyB", prepare: () => ({ reason: (i: number) => (s.nodes[i]!.name === "b" ? undefined : "not b") }) };
    const profile = defaultProfile({ filters: [onlyB], scores: [{ plugin: leastAllocated, weight: 1 }] });
    expect(scheduleTask(s, task(1), { profile })).toMatchObject({ node: "b" });
    expect(filterNode(s, task(1), 0, { profile })).toBe("not b");
  });
});

describe("reserve and many tasks per cycle", () => {
  it("reserveTask makes later decisions see the placement", () => {
    const s = snapshot([edge("a", { capacity: { cpu: 1000, memoryMiB: 1, gpu: 0 } }), edge("b", { capacity: { cpu: 1000, memoryMiB: 1, gpu: 0 } })]);
    const r = scheduleTask(s, task(600, { tenant: "t" }));
    if (r.status !== "Scheduled") throw new Error(r.message);
    reserveTask(s, task(600, { tenant: "t" }), r.nodeIndex, { name: "x" });
    expect(scheduleTask(s, task(600))).toMatchObject({ node: r.node === "a" ? "b" : "a" });
    expect(s.usageOf("t")).toMatchObject({ cpu: 600, tasks: 1 });
  });

  it("scheduleTasks places a batch; a gang that does not fit leaves nothing behind", () => {
    const s = snapshot([edge("a", { capacity: { cpu: 1000, memoryMiB: 1, gpu: 0 } })]);
    expect(scheduleTasks(s, [task(400), task(400)]).map((r) => r.status)).toEqual(["Scheduled", "Scheduled"]);
    expect(s.allocationOf(0).cpu).toBe(800);
    const gang = scheduleTasks(s, [task(100), task(200)], { gang: true });
    expect(gang.map((r) => r.status)).toEqual(["Scheduled", "Unschedulable"]);
    expect(s.allocationOf(0).cpu).toBe(800);
  });

  it("feasibleNodes lists passing nodes in name order with reasons for the others", () => {
    const s = snapshot([edge("b"), edge("a"), edge("c", { ready: false })]);
    expect(feasibleNodes(s, task(1))).toEqual({ nodes: [0, 1], reasons: [{ reason: "node(s) were not ready", count: 1 }] });
  });

  it("places nothing on an empty fleet", () => {
    expect(scheduleTask(snapshot([]), task(1))).toMatchObject({ status: "Unschedulable", message: "0/0 nodes are available: no nodes in the fleet." });
  });
});

describe("passingNodes", () => {
  it("keeps the answer without allocation filters per task shape, and never the one with them", () => {
    const s = snapshot([edge("a", { labels: { zone: "x" } }), edge("b", { labels: { zone: "y" } }), edge("c", { labels: { zone: "x" } })]);
    const scan = { skipAllocationFilters: true };
    const inX = passingNodes(s, task(0, { nodeSelector: { zone: "x" } }), scan);
    expect([...inX]).toEqual([0, 2]);
    expect(passingNodes(s, task(0, { nodeSelector: { zone: "x" } }), scan)).toBe(inX);
    expect([...passingNodes(s, task(0, { nodeSelector: { zone: "y" } }), scan)]).toEqual([1]);
    // Filling a node changes what fits, not where the task may go.
    reserveTask(s, task(16000), 0);
    expect([...passingNodes(s, task(1000, { nodeSelector: { zone: "x" } }))]).toEqual([2]);
    expect([...passingNodes(s, task(1000, { nodeSelector: { zone: "x" } }), scan)]).toEqual([0, 2]);
  });
});
