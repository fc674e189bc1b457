import { describe, expect, it } from "vitest";
import type { StoredObject } from "@eiaas/db";
import { foldStatus } from "./fold-status.js";

const TS = "2026-11-26T12:00:00.000Z";
const svc = (status: Record<string, unknown>): StoredObject =>
  ({
    apiVersion: "eiaas.io/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "cam", namespace: "acme", uid: "w", labels: {}, annotations: {}, resourceVersion: "1", generation: 1, creationTimestamp: TS },
    spec: { rounds: 3 },
    status,
  }) as any;
const task = (name: string, rev: number, phase: string, role = "tail"): StoredObject =>
  ({
    apiVersion: "eiaas.io/v1alpha1",
    kind: "Task",
    metadata: { name, namespace: "acme", uid: name, labels: { "eiaas.io/plan-revision": String(rev) }, annotations: {}, resourceVersion: "1", generation: 1, creationTimestamp: TS },
    spec: { nodeName: `n-${name}`, role },
    status: { phase },
  }) as any;
const ready = (s: Record<string, any>) => s.conditions?.find((c: any) => c.type === "Ready");

describe("foldStatus", () => {
  it.each([
    {
      name: "fresh plan: Scheduled, not Ready, 0/2",
      prev: { phase: "Scheduled", planRevision: 1 },
      tasks: [task("a", 1, "Dispatched"), task("b", 1, "Dispatched")],
      phase: "Scheduled",
      ready: "False",
      message: "0/2 tasks of plan revision 1 running",
      superseded: [],
    },
    {
      name: "all running: Running and Ready",
      prev: { phase: "Scheduled", planRevision: 1 },
      tasks: [task("a", 1, "Running"), task("b", 1, "Running")],
      phase: "Running",
      ready: "True",
      message: "2/2 tasks of plan revision 1 running",
      superseded: [],
    },
    {
      name: "roll-over: old revision keeps it Ready",
      prev: { phase: "Running", planRevision: 2 },
      tasks: [task("a", 1, "Running"), task("b", 2, "Dispatched")],
      phase: "Running",
      ready: "True",
      message: "0/1 tasks of plan revision 2 running",
      superseded: [],
    },
    {
      name: "roll-over done: old tasks superseded",
      prev: { phase: "Running", planRevision: 2 },
      tasks: [task("a", 1, "Running"), task("b", 2, "Running")],
      phase: "Running",
      ready: "True",
      message: "1/1 tasks of plan revision 2 running",
      superseded: ["a"],
    },
    {
      name: "a task failed: not Ready",
      prev: { phase: "Running", planRevision: 1 },
      tasks: [task("a", 1, "Running"), task("b", 1, "Failed")],
      phase: "Scheduled",
      ready: "False",
      message: "1/2 tasks of plan revision 1 running",
      superseded: [],
    },
    // A task was lost and re-planned while its siblings of the old revision still run: not Ready,
    // so not Running either (it was Running with Ready=False until the replacements ran).
    {
      name: "re-planned after a lost task: Scheduled, not Ready",
      prev: { phase: "Running", planRevision: 2 },
      tasks: [task("a", 1, "Running"), task("b", 1, "Failed"), task("c", 2, "Dispatched"), task("d", 2, "Dispatched")],
      phase: "Scheduled",
      ready: "False",
      message: "0/2 tasks of plan revision 2 running",
      superseded: [],
    },
    {
      name: "roll-over while the old revision lost a task: Scheduled, not Ready",
      prev: { phase: "Running", planRevision: 2 },
      tasks: [task("a", 1, "Running"), task("b", 1, "Failed"), task("c", 2, "Running"), task("d", 2, "Dispatched")],
      phase: "Scheduled",
      ready: "False",
      message: "1/2 tasks of plan revision 2 running",
      superseded: [],
    },
    {
      name: "pending stays pending",
      prev: { phase: "Pending", planRevision: 1 },
      tasks: [task("a", 1, "Running"), task("b", 1, "Dispatched")],
      phase: "Pending",
      ready: "False",
      message: "1/2 tasks of plan revision 1 running",
      superseded: [],
    },
  ])("InferenceService — $name", ({ prev, tasks, phase, ready: r, message, superseded }) => {
    const out = foldStatus("InferenceService", svc(prev), tasks, TS);
    expect(out.status.phase).toBe(phase);
    // Never one without the other.
    expect(out.status.phase === "Running").toBe(ready(out.status).status === "True");
    expect(ready(out.status)).toMatchObject({ status: r, message });
    expect(out.superseded.map((t) => t.metadata.name)).toEqual(superseded);
  });

  it("lists the serving tasks as endpoints once all run", () => {
    const out = foldStatus("InferenceService", svc({ phase: "Scheduled", planRevision: 1 }), [task("h", 1, "Running", "head"), task("t", 1, "Running", "tail")], TS);
    expect(out.status.endpoints).toEqual([{ node: "n-t", role: "tail", task: "t" }]);
  });

  it("sums the entries' request counts into status.serving with the cache hit and filter skip rates", () => {
    const counted = (t: StoredObject, serving: Record<string, number>) => ({ ...t, status: { ...t.status, serving } }) as StoredObject;
    const tasks = [
      counted(task("h1", 1, "Running", "head"), { requests: 60, cacheHits: 15, cacheMisses: 45, filterSkips: 9 }),
      counted(task("s1", 1, "Running", "serve"), { requests: 40, cacheHits: 5, cacheMisses: 35, filterSkips: 11 }),
      task("t", 1, "Running", "tail"),
      // An earlier revision's counts are not the plan's.
      counted(task("old", 0, "Running", "head"), { requests: 1000, cacheHits: 1000, cacheMisses: 0, filterSkips: 0 }),
    ];
    const out = foldStatus("InferenceService", svc({ phase: "Running", planRevision: 1 }), tasks, TS);
    expect(out.status.serving).toEqual({ requests: 100, cacheHits: 20, cacheMisses: 80, filterSkips: 20, cacheHitRate: 0.2, filterSkipRate: 0.2 });
    expect(foldStatus("InferenceService", svc({ phase: "Running", planRevision: 1 }), [task("t", 1, "Running")], TS).status.serving).toBeUndefined();
  });

  it("a TrainingJob succeeds when every task of its revision has, and runs while one does", () => {
    const job = { ...svc({ phase: "Scheduled", planRevision: 1 }), kind: "TrainingJob" };
    expect(foldStatus("TrainingJob", job, [task("p", 1, "Running"), task("q", 1, "Dispatched")], TS).status.phase).toBe("Running");
    const done = foldStatus("TrainingJob", job, [task("p", 1, "Succeeded"), task("q", 1, "Succeeded")], TS).status;
    expect(done).toMatchObject({ phase: "Succeeded", round: 3 });
    expect(done.conditions.find((c: any) => c.type === "Complete")).toMatchObject({ status: "True" });
  });

  it("leaves a workload without a plan alone", () => {
    const prev = { phase: "Pending" };
    expect(foldStatus("InferenceService", svc(prev), [], TS)).toEqual({ status: prev, superseded: [] });
  });
});
