// The scheduler's informer: after any mix of writes (API verbs, binds, batched status writes,
// cascading deletes), the cache brought up to date from the watch log holds exactly what a fresh
// re-list reads, and its delta says which workloads changed and whether room may have appeared.
import { describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { useTestStore } from "@eiaas/testing";
import { bindTasks } from "./binder.js";
import { bulkUpdateStatus } from "./bulk-status.js";
import { ClusterCache } from "./cluster-cache.js";
import type { StoredObject } from "./codec.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const MODEL = kindInfo("Model");
const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");

const fx = useTestStore();

const node = (name: string) =>
  fx.store.create(NODE, {
    apiVersion: API_VERSION,
    metadata: { name, labels: { tier: "edge" } },
    spec: { tier: "edge", capacity: { cpu: 1000, memoryMiB: 4096, gpu: 0 } },
    status: { phase: "Ready" },
  } as any);
const service = (name: string) => fx.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name, namespace: "acme" }, spec: { model: "m" } } as any);
function taskOf(owner: StoredObject, name: string, nodeName: string): StoredObject {
  return fx.store.prepareCreate(TASK, {
    apiVersion: API_VERSION,
    metadata: { name, namespace: "acme", ownerReferences: [{ apiVersion: API_VERSION, kind: "InferenceService", name: owner.metadata.name, uid: owner.metadata.uid, controller: true }] },
    spec: { nodeName, role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } },
    status: { phase: "Scheduled", attempt: 1 },
  } as any);
}

/** Everything the cache holds, in a comparable form. */
function contents(c: ClusterCache) {
  const view = (m: Map<string, StoredObject>) =>
    Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, o]) => [k, { rv: o.metadata.resourceVersion, spec: o.spec, status: o.status, labels: o.metadata.labels }]));
  return {
    nodes: view(c.nodes),
    tenants: view(c.tenants),
    models: view(c.models),
    workloads: view(c.workloads),
    tasks: view(c.tasks),
    // Whole task objects: the binder builds their log entries in SQL, they must be what a read gives.
    taskObjects: Object.fromEntries([...c.tasks.entries()].sort(([a], [b]) => a.localeCompare(b))),
    owners: Object.fromEntries(
      [...c.workloads.keys()].sort().map((uid) => [
        uid,
        c
          .tasksOf(uid)
          .map((t) => t.metadata.name)
          .sort(),
      ]),
    ),
  };
}

async function relisted(): Promise<ReturnType<typeof contents>> {
  const fresh = new ClusterCache(fx.db.pool);
  await fresh.sync(0);
  return contents(fresh);
}

describe("ClusterCache", () => {
  it("follows every kind of write from the log and ends where a re-list starts", async () => {
    await fx.store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: "acme" }, spec: {} } as any);
    const cache = new ClusterCache(fx.db.pool, { relistMs: 3_600_000, pageSize: 3 });
    const first = await cache.sync(0);
    expect(first.relisted).toBe(true);
    // The writes below cross a power of ten (…99 → …00): the log must be read in numeric order.
    const now = BigInt(await fx.store.currentResourceVersion());
    let decade = 10n;
    while (decade < now + 10n) decade *= 10n;
    await fx.db.pool.query(`UPDATE resource_version_counter SET value = $1 WHERE id = 1`, [String(decade - 3n)]);

    await node("e1");
    const e2 = await node("e2");
    await fx.store.create(MODEL, { apiVersion: API_VERSION, metadata: { name: "m", namespace: "acme" }, spec: { inputBytes: 1, layers: [{ name: "l", flops: 1, outputBytes: 1 }] } } as any);
    const a = await service("a");
    const b = await service("b");
    const [bound] = await bindTasks(fx.db.pool, [
      { id: "a", namespace: "acme", tasks: [taskOf(a, "a-1", "e1"), taskOf(a, "a-2", "e2")], owner: { kind: ISVC, object: { ...a, status: { phase: "Scheduled", planRevision: 1 } } } },
    ]);
    expect(bound?.bound).toBe(true);
    let delta = await cache.sync(1);
    expect(delta.relisted).toBe(false);
    expect(delta.applied).toBeGreaterThan(6); // read across several pages of 3
    expect(delta.workloads).toEqual(new Set([a.metadata.uid, b.metadata.uid]));
    expect(delta.roomChanged).toBe(true); // nodes and a model appeared
    expect(
      cache
        .tasksOf(a.metadata.uid)
        .map((t) => t.metadata.name)
        .sort(),
    ).toEqual(["a-1", "a-2"]);
    expect(contents(cache)).toEqual(await relisted());

    // Tasks Running (batched status writes): a's tasks changed, no room appeared.
    const tasks = cache.tasksOf(a.metadata.uid);
    await bulkUpdateStatus(
      fx.db.pool,
      TASK,
      tasks.map((t) => ({ object: t, status: { ...t.status, phase: "Running" } })),
    );
    delta = await cache.sync(2);
    expect(delta.workloads).toEqual(new Set([a.metadata.uid]));
    expect(delta.roomChanged).toBe(false);
    expect(contents(cache)).toEqual(await relisted());

    // A heartbeat-like status write that changes nothing the planner reads is no news.
    const n1 = cache.nodes.get("e1")!;
    await fx.store.updateStatus(NODE, n1, { ...n1.status, allocated: { cpu: 100 } });
    delta = await cache.sync(3);
    expect(delta).toMatchObject({ roomChanged: false, linksChanged: false, applied: 1 });
    // A measured link is.
    const n1b = cache.nodes.get("e1")!;
    await fx.store.updateStatus(NODE, n1b, { ...n1b.status, measured: { uplinkMbps: 3, rttMs: 40 } });
    delta = await cache.sync(4);
    expect(delta).toMatchObject({ roomChanged: true, linksChanged: true });

    // A spec update, a finished task, a cascading delete, a deleted node.
    const cur = cache.workloads.get(b.metadata.uid)!;
    await fx.store.update(ISVC, cur, { ...cur, spec: { ...cur.spec, model: "m2" } });
    const done = cache.tasksOf(a.metadata.uid)[0]!;
    await fx.store.updateStatus(TASK, done, { ...done.status, phase: "Failed", reason: "NodeLost" });
    delta = await cache.sync(5);
    expect(delta.roomChanged).toBe(true);
    expect(cache.workloads.get(b.metadata.uid)?.spec.model).toBe("m2");
    await fx.store.delete(ISVC, cache.workloads.get(a.metadata.uid)!);
    await fx.store.delete(NODE, e2);
    delta = await cache.sync(6);
    expect(delta.workloads.has(a.metadata.uid)).toBe(true);
    expect(cache.workloads.has(a.metadata.uid)).toBe(false);
    expect(cache.tasksOf(a.metadata.uid)).toEqual([]);
    expect(cache.tasks.size).toBe(0);
    expect([...cache.nodes.keys()]).toEqual(["e1"]);
    expect(contents(cache)).toEqual(await relisted());
  });

  it("names the owners its tasks point at that are no workload in it (dangling), from the log and from a re-list alike", async () => {
    const cache = new ClusterCache(fx.db.pool);
    await cache.sync(0);
    const live = await service("live");
    const gone = await service("gone");
    await fx.store.applyBatch([taskOf(live, "live-t", "e1"), taskOf(gone, "gone-t1", "e1"), taskOf(gone, "gone-t2", "e1")].map((object) => ({ type: "create" as const, kind: TASK, object })));
    await cache.sync(1);
    expect([...cache.danglingOwners()]).toEqual([]);
    // Deleted the way the namespace cleanup does, without its tasks: they dangle.
    await fx.store.applyBatch([{ type: "delete", kind: ISVC, object: gone }]);
    // A task made by hand naming an owner that never was a workload in the cache.
    const stray = fx.store.prepareCreate(TASK, {
      apiVersion: API_VERSION,
      metadata: {
        name: "stray",
        namespace: "acme",
        ownerReferences: [{ apiVersion: API_VERSION, kind: "InferenceService", name: "x", uid: "00000000-0000-4000-8000-000000000001", controller: true }],
      },
      spec: { nodeName: "e1", role: "serve" },
    } as any);
    await fx.store.applyBatch([{ type: "create", kind: TASK, object: stray }]);
    await cache.sync(2);
    expect(new Set(cache.danglingOwners())).toEqual(new Set([gone.metadata.uid, "00000000-0000-4000-8000-000000000001"]));
    const fresh = new ClusterCache(fx.db.pool);
    await fresh.sync(0);
    expect(new Set(fresh.danglingOwners())).toEqual(new Set(cache.danglingOwners()));
    // Once the last task of an owner is gone, it no longer dangles.
    await fx.store.applyBatch([...cache.tasksOf(gone.metadata.uid), cache.tasks.get(stray.metadata.uid)!].map((object) => ({ type: "delete" as const, kind: TASK, object })));
    await cache.sync(3);
    expect([...cache.danglingOwners()]).toEqual([]);
    expect(cache.tasksOf(live.metadata.uid).map((t) => t.metadata.name)).toEqual(["live-t"]);
  });

  it("re-lists when the log it needs was compacted away, when told to, and when the period is up", async () => {
    const cache = new ClusterCache(fx.db.pool, { relistMs: 1_000 });
    await cache.sync(0);
    await node("e1");
    expect((await cache.sync(10)).relisted).toBe(false);
    await node("e2");
    // The log up to now is dropped: entries after the cursor are gone.
    await fx.db.pool.query(`WITH d AS (DELETE FROM watch_events RETURNING resource_version) UPDATE watch_compaction SET resource_version = (SELECT max(resource_version) FROM d) WHERE id = 1`);
    const delta = await cache.sync(20);
    expect(delta.relisted).toBe(true);
    expect([...cache.nodes.keys()].sort()).toEqual(["e1", "e2"]);
    expect((await cache.sync(30)).relisted).toBe(false);
    cache.invalidate();
    expect((await cache.sync(40)).relisted).toBe(true);
    expect((await cache.sync(1_039)).relisted).toBe(false);
    expect((await cache.sync(1_040)).relisted).toBe(true);
  });

  it("fails the sync whose change it cannot take, and lists again on the next (it is never left behind silently)", async () => {
    const cache = new ClusterCache(fx.db.pool);
    await cache.sync(0);
    // A log entry no writer makes (ownerReferences not a list), as if written around the store.
    await fx.db.pool.query(
      `WITH v AS (UPDATE resource_version_counter SET value = value + 1 WHERE id = 1 RETURNING value)
       INSERT INTO watch_events (resource_version, kind, namespace, name, type, object)
       SELECT value, 'Task', 'acme', 'odd', 'ADDED', jsonb_build_object('kind', 'Task', 'metadata', jsonb_build_object('name', 'odd', 'namespace', 'acme', 'uid', '00000000-0000-4000-8000-000000000002', 'ownerReferences', 'bogus')) FROM v`,
    );
    await expect(cache.sync(1)).rejects.toThrow();
    await node("after");
    const next = await cache.sync(2);
    expect(next.relisted).toBe(true);
    expect([...cache.nodes.keys()]).toContain("after");
    expect(contents(cache)).toEqual(await relisted());
  });
});
