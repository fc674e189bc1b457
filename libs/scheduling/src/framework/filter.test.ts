import { describe, expect, it } from "vitest";
import { defaultProfile } from "../plugins/index.js";
import { edge, snapshot } from "../testing/builders.js";
import { feasibleNodes, filterNode, passingNodes, reserveTask, unschedulableMessage } from "./filter.js";
import type { TaskRequest } from "./types.js";

const task = (cpu: number, o: Partial<TaskRequest> = {}): TaskRequest => ({ resources: { cpu, memoryMiB: 0, gpu: 0 }, ...o });

describe("the filter pass", () => {
  it("explains why no node fits, as kube-scheduler does", () => {
    const s = snapshot([
      edge("small", { capacity: { cpu: 100, memoryMiB: 100, gpu: 0 } }),
      edge("down", { ready: false }),
      edge("tainted", { taints: [{ key: "k", effect: "NoSchedule" }] }),
      edge("small2", { capacity: { cpu: 100, memoryMiB: 100, gpu: 0 } }),
    ]);
    const r = feasibleNodes(s, task(500));
    expect(r.nodes).toEqual([]);
    expect(r.reasons).toEqual([
      { reason: "Insufficient cpu", count: 2 },
      { reason: "node(s) had untolerated taint {k: }", count: 1 },
      { reason: "node(s) were not ready", count: 1 },
    ]);
    expect(unschedulableMessage(4, r.reasons)).toBe("0/4 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {k: }, 1 node(s) were not ready.");
  });

  it("leaves the allocation filters out when asked (what preemption and the per-split checks decide themselves)", () => {
    const s = snapshot([edge("small", { capacity: { cpu: 100, memoryMiB: 100, gpu: 0 } }), edge("down", { ready: false })]);
    expect(feasibleNodes(s, task(500), { skipAllocationFilters: true })).toEqual({ nodes: [s.nodeIndex("small")], reasons: [{ reason: "node(s) were not ready", count: 1 }] });
    expect(filterNode(s, task(500), s.nodeIndex("small"))).toBe("Insufficient cpu");
    expect(filterNode(s, task(500), s.nodeIndex("small"), { skipAllocationFilters: true })).toBeUndefined();
  });

  it("uses a filter's reason when it has no fast path", () => {
    const s = snapshot([edge("a"), edge("b")]);
    const onlyB = { name: "OnlyB", prepare: () => ({ reason: (i: number) => (s.nodes[i]!.name === "b" ? undefined : "not b") }) };
    const profile = defaultProfile({ filters: [onlyB] });
    expect([...passingNodes(s, task(1), { profile })]).toEqual([s.nodeIndex("b")]);
    expect(filterNode(s, task(1), 0, { profile })).toBe("not b");
  });

  it("reserveTask makes later filter passes see the placement", () => {
    const s = snapshot([edge("a", { capacity: { cpu: 1000, memoryMiB: 1, gpu: 0 } }), edge("b", { capacity: { cpu: 1000, memoryMiB: 1, gpu: 0 } })]);
    expect(feasibleNodes(s, task(600)).nodes).toEqual([0, 1]);
    reserveTask(s, task(600, { tenant: "t" }), 0, { name: "x" });
    expect(feasibleNodes(s, task(600)).nodes).toEqual([1]);
    expect(s.usageOf("t")).toMatchObject({ cpu: 600, tasks: 1 });
  });

  it("feasibleNodes lists passing nodes in name order with reasons for the others", () => {
    const s = snapshot([edge("b"), edge("a"), edge("c", { ready: false })]);
    expect(feasibleNodes(s, task(1))).toEqual({ nodes: [0, 1], reasons: [{ reason: "node(s) were not ready", count: 1 }] });
  });

  it("says so for an empty fleet", () => {
    expect(feasibleNodes(snapshot([]), task(1))).toEqual({ nodes: [], reasons: [] });
    expect(unschedulableMessage(0, [])).toBe("0/0 nodes are available: no nodes in the fleet.");
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
