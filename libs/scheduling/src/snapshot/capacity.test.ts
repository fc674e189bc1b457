// The capacity rules, table-driven over nodes at the edge of each rule: the rules themselves, the
// planner's Snapshot and the framework's filters give the same verdict on every one. (libs/db's
// capacity-rules.test.ts holds the binder's re-check to the same table.)
import { describe, expect, it } from "vitest";
import { filterNode } from "../framework/filter.js";
import { CAPACITY_EDGE_CASES, caseNode, plannerVerdict, type CapacityCase } from "../testing/capacity-cases.js";
import { CAPACITY_SLACK, capacityShortfall, fitsWithin, isReady, loadCapacityOf, nodeCapacity, taskSlotsOf, unschedulableReason, type NodeDemand } from "./capacity.js";
import { buildSnapshot } from "./build.js";

const cases = CAPACITY_EDGE_CASES.map((c) => [c.name, c] as const);

/** The verdict of the rules alone, from the node's spec and status and its tasks' sum. */
function rulesVerdict(c: CapacityCase): CapacityCase["verdict"] {
  const why = unschedulableReason(isReady(c.node.status), c.node.unschedulable);
  if (why) return why;
  const used: NodeDemand = { cpu: 0, memoryMiB: 0, gpu: 0, load: 0, tasks: c.existing.length };
  for (const d of c.existing) {
    used.cpu += d.cpu;
    used.memoryMiB += d.memoryMiB;
    used.gpu += d.gpu;
    used.load += d.load;
  }
  return capacityShortfall(nodeCapacity(c.node.capacity), used, { ...c.request, tasks: 1 }) ?? "fits";
}

const FILTER_VERDICT: Record<string, CapacityCase["verdict"]> = {
  "Insufficient cpu": "cpu",
  "Insufficient memory": "memoryMiB",
  "Insufficient gpu": "gpu",
  "node(s) would be overloaded": "load",
  "Too many tasks": "tasks",
  "node(s) were not ready": "NotReady",
  "node(s) were unschedulable": "Cordoned",
};

describe("capacity rules", () => {
  it.each(cases)("the rules: %s", (_name, c) => {
    expect(rulesVerdict(c)).toBe(c.verdict);
  });

  it.each(cases)("the planner's snapshot: %s", (_name, c) => {
    expect(plannerVerdict(c)).toBe(c.verdict);
  });

  it.each(cases)("the framework's filters (NodeReady, ResourceFit, ServerLoad): %s", (_name, c) => {
    const s = buildSnapshot({
      nodes: [caseNode(c)],
      tasks: c.existing.map(({ load, ...resources }, i) => ({ metadata: { name: `old-${i}`, namespace: "acme" }, spec: { nodeName: "n1", role: "serve", resources, load } })),
    });
    const { load, ...resources } = c.request;
    const failure = filterNode(s, { resources, load }, s.nodeIndex("n1"));
    expect(failure === undefined ? "fits" : FILTER_VERDICT[failure]).toBe(c.verdict);
  });

  it("one slack, absolute, for every dimension", () => {
    expect(fitsWithin(8, CAPACITY_SLACK, 8)).toBe(true);
    expect(fitsWithin(8, 2 * CAPACITY_SLACK, 8)).toBe(false);
    expect(fitsWithin(1e6, 0.5 * CAPACITY_SLACK, 1e6)).toBe(true);
  });

  it("a request of nothing, or of a negative or NaN amount, asks nothing", () => {
    for (const r of [0, -1, Number.NaN]) expect(fitsWithin(2000, r, 1000)).toBe(true);
  });

  it("load capacity and task slots from the spec", () => {
    expect([0, 1, 8].map(loadCapacityOf)).toEqual([1, 1, 8]);
    expect([undefined, 0, -2, 3].map(taskSlotsOf)).toEqual([Infinity, Infinity, Infinity, 3]);
    expect(nodeCapacity({ cpu: "500", memoryMiB: "x", gpu: 2 })).toEqual({ cpu: 500, memoryMiB: 0, gpu: 2, load: 2, tasks: Infinity });
    expect(nodeCapacity(undefined)).toEqual({ cpu: 0, memoryMiB: 0, gpu: 0, load: 1, tasks: Infinity });
  });
});
