// The snapshot kept across cycles must always equal one built from scratch from the same tasks:
// random streams of tasks starting, finishing, being deleted and landing on unknown nodes, with
// cycles reserving tentatively and rolling back in between.
import { describe, expect, it } from "vitest";
import type { StoredObject } from "@eiaas/db";
import { buildSnapshot, type EdgeNodeLike, type Snapshot, type TaskLike, type TenantLike } from "@eiaas/scheduling";
import { LiveSnapshot, type SnapshotSource } from "./live-snapshot.js";
import { sameJson } from "./workload-status.js";

function node(name: string, cpu: number): StoredObject {
  return { apiVersion: "eiaas.io/v1alpha1", kind: "EdgeNode", metadata: { name, uid: name, labels: {}, annotations: {}, resourceVersion: "1", generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" }, spec: { tier: "edge", capacity: { cpu, memoryMiB: 8192, gpu: 1 } }, status: { phase: "Ready" } } as any;
}
function task(uid: string, ns: string, nodeName: string, cpu: number, phase: string, load = 0): StoredObject {
  return {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "Task",
    metadata: { name: uid, namespace: ns, uid, labels: {}, annotations: load ? { "scheduling.eiaas.io/load": String(load) } : {}, resourceVersion: "1", generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" },
    spec: { nodeName, role: "serve", resources: { cpu, memoryMiB: 64, gpu: 0 } },
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
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const nodeNames = ["a", "b", "c"];
    const tenantNames = ["t1", "t2"];
    const source: SnapshotSource = {
      nodes: new Map(nodeNames.map((n) => [n, node(n, 100_000)])),
      tenants: new Map(tenantNames.map((t) => [t, { apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name: t, uid: t, labels: {}, annotations: {}, resourceVersion: "1", generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" }, spec: {} } as any])),
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
      const fresh = buildSnapshot({ nodes: [...source.nodes.values()] as unknown as EdgeNodeLike[], tenants: [...source.tenants.values()] as unknown as TenantLike[], tasks: [...source.tasks.values()] as unknown as TaskLike[] });
      expect(totals(s, nodeNames, tenantNames)).toEqual(totals(fresh, nodeNames, tenantNames));
      // A cycle's tentative placements roll back to the same state.
      const m = s.mark();
      s.reserve({ name: "tentative", namespace: "t1", node: "a", resources: { cpu: 5, memoryMiB: 5, gpu: 0 }, load: 0.1 });
      s.rollback(m);
      expect(totals(s, nodeNames, tenantNames)).toEqual(totals(fresh, nodeNames, tenantNames));
    }
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
