// The snapshot kept across cycles must always equal one built from scratch from the same tasks:
// random streams of tasks starting, finishing, being deleted and landing on unknown nodes, with
// cycles reserving tentatively and rolling back in between.
import { describe, expect, it } from "vitest";
import type { StoredObject } from "@eiaas/db";
import { buildSnapshot, type EdgeNodeLike, type Snapshot, type TaskLike, type TenantLike } from "@eiaas/scheduling";
import { LiveSnapshot, type SnapshotSource } from "./live-snapshot.js";
import { sameJson } from "./workload-status.js";

function node(name: string, cpu: number): StoredObject {
  return {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "EdgeNode",
    metadata: { name, uid: name, labels: {}, annotations: {}, resourceVersion: "1", generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" },
    spec: { tier: "edge", capacity: { cpu, memoryMiB: 8192, gpu: 1 } },
    status: { phase: "Ready" },
  } as any;
}
function task(uid: string, ns: string, nodeName: string, cpu: number, phase: string, load = 0): StoredObject {
  return {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "Task",
    metadata: { name: uid, namespace: ns, uid, labels: {}, annotations: {}, resourceVersion: "1", generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" },
    spec: { nodeName, role: "serve", resources: { cpu, memoryMiB: 64, gpu: 0 }, ...(load ? { load } : {}) },
    status: { phase },
  } as any;
}

/** Allocation per node and usage per tenant, rounded against float drift. */
function totals(s: Snapshot, nodes: string[], tenants: string[]) {
  const r = (n: number) => Math.round(n * 1e6) / 1e6;
  return {
    nodes: nodes.map((n) => {
      const a = s.allocationOf(s.nodeIndex(n));
      return [n, r(a.cpu), r(a.memoryMiB), r(a.load)];
    }),
    tenants: tenants.map((t) => {
      const u = s.usageOf(t);
      return [t, r(u.cpu), r(u.memoryMiB), u.tasks];
    }),
    tasks: [...s.tasks()].map((t) => t.uid).sort(),
  };
}

describe("LiveSnapshot", () => {
  it("stays equal to a snapshot built from scratch under random task churn", () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const nodeNames = ["a", "b", "c"];
    const tenantNames = ["t1", "t2"];
    const source: SnapshotSource = {
      nodes: new Map(nodeNames.map((n) => [n, node(n, 100_000)])),
      tenants: new Map(
        tenantNames.map((t) => [
          t,
          {
            apiVersion: "eiaas.io/v1alpha1",
            kind: "Tenant",
            metadata: { name: t, uid: t, labels: {}, annotations: {}, resourceVersion: "1", generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" },
            spec: {},
          } as any,
        ]),
      ),
      tasks: new Map(),
    };
    const live = new LiveSnapshot();
    live.update(source, { relisted: true, fleetChanged: true, tasks: new Map() });
    let next = 0;
    for (let step = 0; step < 300; step++) {
      const changed = new Map<string, StoredObject | undefined>();
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
        const existing = [...source.tasks.keys()];
        const roll = rand();
        if (roll < 0.5 || existing.length === 0) {
          const uid = `u${next++}`;
          // Some land on a node the snapshot does not know: they count for their tenant only.
          const where = rand() < 0.1 ? "gone" : nodeNames[Math.floor(rand() * nodeNames.length)]!;
          const t = task(uid, tenantNames[Math.floor(rand() * 2)]!, where, Math.round(rand() * 100), rand() < 0.5 ? "Scheduled" : "Running", rand() < 0.3 ? rand() / 10 : 0);
          source.tasks.set(uid, t);
          changed.set(uid, t);
        } else {
          const uid = existing[Math.floor(rand() * existing.length)]!;
          const t = source.tasks.get(uid)!;
          if (roll < 0.7) {
            source.tasks.delete(uid);
            changed.set(uid, undefined);
          } else {
            const phase = roll < 0.85 ? "Running" : rand() < 0.5 ? "Succeeded" : "Failed";
            const moved = { ...t, status: { phase } };
            source.tasks.set(uid, moved);
            changed.set(uid, moved);
          }
        }
      }
      const s = live.update(source, { relisted: false, fleetChanged: false, tasks: changed });
      const fresh = buildSnapshot({
        nodes: [...source.nodes.values()] as unknown as EdgeNodeLike[],
        tenants: [...source.tenants.values()] as unknown as TenantLike[],
        tasks: [...source.tasks.values()] as unknown as TaskLike[],
      });
      expect(totals(s, nodeNames, tenantNames)).toEqual(totals(fresh, nodeNames, tenantNames));
      // A cycle's tentative placements roll back to the same state.
      const m = s.mark();
      s.reserve({ name: "tentative", namespace: "t1", node: "a", resources: { cpu: 5, memoryMiB: 5, gpu: 0 }, load: 0.1 });
      s.rollback(m);
      expect(totals(s, nodeNames, tenantNames)).toEqual(totals(fresh, nodeNames, tenantNames));
    }
  });
});

describe("LiveSnapshot: runs a node still reports of tasks the control plane ended", () => {
  /** Node `a` with 2 task slots, reporting `running` as its agent's heartbeat would. */
  const nodeA = (running: string[]) => {
    const n = node("a", 1_000) as any;
    return { ...n, spec: { ...n.spec, capacity: { ...n.spec.capacity, tasks: 2 } }, status: { phase: "Ready", runningTasks: running } } as StoredObject;
  };
  const setup = () => {
    const source: SnapshotSource = { nodes: new Map([["a", nodeA([])]]), tenants: new Map(), tasks: new Map() };
    const live = new LiveSnapshot();
    live.update(source, { relisted: true, fleetChanged: true, tasks: new Map() });
    const x = task("x", "t1", "a", 300, "Running");
    source.tasks.set("x", x);
    source.nodes.set("a", nodeA(["t1/x"]));
    live.update(source, { relisted: false, fleetChanged: false, tasks: new Map([["x", x]]), nodesRunning: new Set(["a"]) });
    return { source, live, x };
  };
  const slotsUsed = (s: Snapshot) => s.taskCount(s.nodeIndex("a"));

  it.each([
    ["failed by the control plane (NodeLost)", (x: StoredObject) => ({ ...x, status: { phase: "Failed", reason: "NodeLost" } }) as StoredObject],
    ["evicted (drain)", (x: StoredObject) => ({ ...x, status: { phase: "Failed", reason: "Evicted" } }) as StoredObject],
    ["deleted while running", () => undefined],
  ])("holds the slot and room of a task %s while its node reports it, and frees them once the node stops", (_what, end) => {
    const { source, live, x } = setup();
    const ended = end(x);
    if (ended) source.tasks.set("x", ended);
    else source.tasks.delete("x");
    let s = live.update(source, { relisted: false, fleetChanged: false, tasks: new Map([["x", ended]]) });
    // The task no longer counts for its tenant, but the agent still runs it: the node is not emptier.
    expect(slotsUsed(s)).toBe(1);
    expect(s.allocationOf(s.nodeIndex("a")).cpu).toBe(300);
    expect(s.usageOf("t1").tasks).toBe(0);
    expect(live.heldRuns()).toEqual(["a: t1/x"]);
    expect(s.tasksOn(s.nodeIndex("a"))[0]!.held).toBe(true);
    // A rebuild (the fleet changed) keeps holding it.
    s = live.update(source, { relisted: false, fleetChanged: true, tasks: new Map() });
    expect(slotsUsed(s)).toBe(1);
    // The agent stopped the run and said so.
    source.nodes.set("a", nodeA([]));
    s = live.update(source, { relisted: false, fleetChanged: false, tasks: new Map(), nodesRunning: new Set(["a"]) });
    expect(slotsUsed(s)).toBe(0);
    expect(s.allocationOf(s.nodeIndex("a")).cpu).toBe(0);
    expect(live.heldRuns()).toEqual([]);
  });

  it("does not hold a task its agent finished itself, though its last heartbeat still lists it", () => {
    const { source, live, x } = setup();
    for (const phase of ["Succeeded", "Failed"]) {
      const done = { ...x, status: { phase, reason: phase === "Failed" ? "Error" : undefined } } as StoredObject;
      source.tasks.set("x", done);
      const s = live.update(source, { relisted: false, fleetChanged: false, tasks: new Map([["x", done]]) });
      expect(slotsUsed(s)).toBe(0);
      expect(live.heldRuns()).toEqual([]);
    }
  });

  it("does not hold what the node never reported running", () => {
    const { source, live, x } = setup();
    source.nodes.set("a", nodeA([]));
    live.update(source, { relisted: false, fleetChanged: false, tasks: new Map(), nodesRunning: new Set(["a"]) });
    const lost = { ...x, status: { phase: "Failed", reason: "NodeLost" } } as StoredObject;
    source.tasks.set("x", lost);
    const s = live.update(source, { relisted: false, fleetChanged: false, tasks: new Map([["x", lost]]) });
    expect(slotsUsed(s)).toBe(0);
  });

  it("after a re-list, holds what a node reports of tasks gone or ended by the control plane", () => {
    const source: SnapshotSource = {
      nodes: new Map([["a", nodeA(["t1/x", "t1/gone", "t1/live"])]]),
      tenants: new Map(),
      tasks: new Map([
        ["x", { ...task("x", "t1", "a", 300, "Failed"), status: { phase: "Failed", reason: "Preempted" } } as StoredObject],
        ["live", task("live", "t1", "a", 100, "Running")],
      ]),
    };
    const live = new LiveSnapshot();
    const s = live.update(source, { relisted: true, fleetChanged: true, tasks: new Map() });
    expect(live.heldRuns()).toEqual(["a: t1/gone", "a: t1/x"]);
    // Room: the live task's 100 and the preempted one's 300 (the deleted one's request is unknown: a slot).
    expect(s.allocationOf(s.nodeIndex("a")).cpu).toBe(400);
    expect(slotsUsed(s)).toBe(3);
    expect(s.hasTaskSlots(s.nodeIndex("a"))).toBe(false);
  });
});

describe("sameJson", () => {
  it.each([
    [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }, true],
    [{ a: 1, u: undefined }, { a: 1 }, true],
    [{ a: 1 }, { a: 1, b: null }, false],
    [[1, 2], [2, 1], false],
    [{ a: [] }, { a: {} }, false],
    [{ a: "1" }, { a: 1 }, false],
    [null, {}, false],
  ])("%j vs %j → %s", (a, b, same) => {
    expect(sameJson(a, b)).toBe(same);
    expect(sameJson(b, a)).toBe(same);
  });
});
