// bindTasks under concurrency (design.md §5 Bind): two schedulers, or a retry, binding from the same
// (stale) view can never over-commit a node's capacity or load, breach a tenant's quota, or bind a
// workload's plan twice — the transaction re-checks against the rows under the counter-row lock.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { createTestDatabase, type TestDatabase } from "@eiaas/testing";
import { bindTasks, type BindGroup, type BindOutcome } from "./binder.js";
import { createDatabase, type Database } from "./client.js";
import type { StoredObject } from "./codec.js";
import { ObjectStore } from "./object-store.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const TASK = kindInfo("Task");
const ISVC = kindInfo("InferenceService");

let tdb: TestDatabase;
/** Two schedulers: a pool each. */
let a: Database;
let b: Database;
let store: ObjectStore;

beforeAll(async () => {
  tdb = await createTestDatabase();
  a = createDatabase(tdb.url, { poolSize: 3 });
  b = createDatabase(tdb.url, { poolSize: 3 });
  store = new ObjectStore(a.pool);
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await tdb?.drop();
});
beforeEach(async () => {
  await tdb.reset();
  await store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: "acme" }, spec: { quota: { cpu: 1000, tasks: 3 } } } as any);
  await store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: "beta" }, spec: {} } as any);
  for (const name of ["e1", "e2"]) {
    await store.create(NODE, { apiVersion: API_VERSION, metadata: { name }, spec: { tier: "edge", capacity: { cpu: 1000, memoryMiB: 4096, gpu: 0 } }, status: { phase: "Ready" } } as any);
  }
});

let seq = 0;
function task(ns: string, node: string, cpu: number, load = 0): StoredObject {
  return store.prepareCreate(TASK, {
    apiVersion: API_VERSION,
    metadata: { name: `t-${++seq}`, namespace: ns },
    spec: { nodeName: node, role: "serve", resources: { cpu, memoryMiB: 64, gpu: 0 }, ...(load ? { load } : {}) },
    status: { phase: "Scheduled", attempt: 1 },
  } as any);
}
const group = (id: string, ns: string, tasks: StoredObject[], owner?: BindGroup["owner"]): BindGroup => ({ id, namespace: ns, tasks, ...(owner ? { owner } : {}) });

/** Both schedulers bind at once, each what it planned from the same view. */
async function race(ga: BindGroup, gb: BindGroup): Promise<[BindOutcome, BindOutcome]> {
  const [ra, rb] = await Promise.all([bindTasks(a.pool, [ga]), bindTasks(b.pool, [gb])]);
  return [ra[0]!, rb[0]!];
}
const bound = (os: BindOutcome[]) => os.filter((o) => o.bound).length;
const reasons = (os: BindOutcome[]) => os.flatMap((o) => (o.bound ? [] : [o.reason]));

async function activeCpu(node: string): Promise<number> {
  const r = await a.pool.query(`SELECT COALESCE(sum((spec->'resources'->>'cpu')::float8), 0) AS cpu FROM tasks WHERE node_name = $1`, [node]);
  return Number(r.rows[0].cpu);
}

describe("bindTasks re-checks under concurrency", () => {
  it("binds only one of two plans that each fit a node alone but not together (cpu)", async () => {
    for (let i = 0; i < 10; i++) {
      await a.pool.query("DELETE FROM tasks");
      const out = await race(group(`A${i}`, "beta", [task("beta", "e1", 700)]), group(`B${i}`, "beta", [task("beta", "e1", 700)]));
      expect(bound(out)).toBe(1);
      expect(reasons(out)).toEqual(["node e1: insufficient cpu"]);
      expect(await activeCpu("e1")).toBe(700);
    }
  });

  it("keeps a server's load at or under 1", async () => {
    const out = await race(group("A", "beta", [task("beta", "e1", 10, 0.6)]), group("B", "beta", [task("beta", "e1", 10, 0.6)]));
    expect(bound(out)).toBe(1);
    expect(reasons(out)[0]).toMatch(/node e1: load would exceed 1/);
  });

  it("keeps a node within its task slots, counting tasks that ask for no resources", async () => {
    const e1 = (await a.pool.query(`SELECT * FROM edge_nodes WHERE name = 'e1'`)).rows[0];
    await store.update(NODE, { ...(await store.get(NODE, undefined, "e1"))! }, {
      apiVersion: API_VERSION,
      metadata: { name: "e1" },
      spec: { ...e1.spec, capacity: { ...e1.spec.capacity, tasks: 2 } },
    } as any);
    const first = await bindTasks(a.pool, [group("A", "beta", [task("beta", "e1", 0)])]);
    expect(bound(first)).toBe(1);
    const out = await race(group("B", "beta", [task("beta", "e1", 0)]), group("C", "beta", [task("beta", "e1", 0)]));
    expect(bound(out)).toBe(1);
    expect(reasons(out)).toEqual(["node e1: too many tasks (2 slots)"]);
    // A finished task frees its slot.
    await a.pool.query(`UPDATE tasks SET phase = 'Succeeded' WHERE node_name = 'e1'`);
    expect(bound(await bindTasks(a.pool, [group("D", "beta", [task("beta", "e1", 0), task("beta", "e1", 0)])]))).toBe(1);
  });

  it("keeps a tenant within its quota across nodes", async () => {
    // Each fits its node and the quota alone; together they would use 1200 of 1000 cpu.
    const cpu = await race(group("A", "acme", [task("acme", "e1", 600)]), group("B", "acme", [task("acme", "e2", 600)]));
    expect(bound(cpu)).toBe(1);
    expect(reasons(cpu)).toEqual(["quota: cpu 1200 > 1000"]);
    await a.pool.query("DELETE FROM tasks");
    const count = await race(group("A", "acme", [task("acme", "e1", 0), task("acme", "e2", 0)]), group("B", "acme", [task("acme", "e1", 0), task("acme", "e2", 0)]));
    expect(bound(count)).toBe(1);
    expect(reasons(count)).toEqual(["quota: tasks 4 > 3"]);
  });

  it("binds a gang all or nothing", async () => {
    const [out] = await bindTasks(a.pool, [group("G", "beta", [task("beta", "e1", 600), task("beta", "e2", 1200)])]);
    expect(out!.bound).toBe(false);
    expect(Number((await a.pool.query("SELECT count(*) AS n FROM tasks")).rows[0].n)).toBe(0);
  });

  it("binds a workload's plan once when two schedulers (or a retry) bind it from the same version", async () => {
    const svc = await store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "cam", namespace: "beta" }, spec: { model: "m", clients: { selector: {} } } } as any);
    const planned = (name: string) => ({ kind: ISVC, object: { ...svc, status: { phase: "Scheduled", planRevision: 1, by: name } } });
    const out = await race(group("A", "beta", [task("beta", "e1", 100)], planned("A")), group("B", "beta", [task("beta", "e2", 100)], planned("B")));
    expect(bound(out)).toBe(1);
    expect(reasons(out)).toEqual(["InferenceService cam changed since it was planned"]);
    expect(Number((await a.pool.query("SELECT count(*) AS n FROM tasks")).rows[0].n)).toBe(1);
    const winner = out.find((o) => o.bound)!.id;
    expect((await store.get(ISVC, "beta", "cam"))!.status.by).toBe(winner);
  });

  it("refuses alone a workload edited between the bind's read and its write; the others bind", async () => {
    const svc = (name: string) => store.create(ISVC, { apiVersion: API_VERSION, metadata: { name, namespace: "beta" }, spec: { model: "m", clients: { selector: {} } } } as any);
    const [x, y] = [await svc("x"), await svc("y")];
    const planned = (o: StoredObject) => ({ kind: ISVC, object: { ...o, status: { phase: "Scheduled", planRevision: 1 } } });
    // Another writer holds the version lock: the bind reads, then waits for it at its write.
    const other = await b.pool.connect();
    try {
      await other.query("BEGIN");
      await other.query("UPDATE resource_version_counter SET value = value + 1 WHERE id = 1");
      const binding = bindTasks(a.pool, [group("X", "beta", [task("beta", "e1", 100)], planned(x)), group("Y", "beta", [task("beta", "e2", 100)], planned(y))]);
      for (let i = 0; ; i++) {
        const waiting = await b.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%resource_version_counter%'`);
        if (waiting.rows[0].n > 0) break;
        if (i > 200) throw new Error("the bind never reached its write");
        await new Promise((r) => setTimeout(r, 10));
      }
      // …and edits x meanwhile (a user's spec change).
      await other.query(`UPDATE inference_services SET resource_version = (SELECT value FROM resource_version_counter WHERE id = 1), generation = generation + 1 WHERE uid = $1`, [x.metadata.uid]);
      await other.query("COMMIT");
      const out = await binding;
      expect(out.map((o) => [o.id, o.bound])).toEqual([
        ["X", false],
        ["Y", true],
      ]);
      expect(reasons(out)).toEqual(["InferenceService x changed since it was planned"]);
      expect((await a.pool.query(`SELECT spec->>'nodeName' AS node FROM tasks`)).rows).toEqual([{ node: "e2" }]);
      expect((await store.get(ISVC, "beta", "y"))!.status.planRevision).toBe(1);
      expect((await store.get(ISVC, "beta", "x"))!.status.planRevision).toBeUndefined();
    } finally {
      await other.query("ROLLBACK").catch(() => undefined);
      other.release();
    }
  });

  it("refuses nodes that went away, NotReady or cordoned since the plan", async () => {
    const e2 = (await store.get(NODE, undefined, "e2"))!;
    await store.updateStatus(NODE, e2, { phase: "NotReady" });
    const e1 = (await store.get(NODE, undefined, "e1"))!;
    await store.update(NODE, e1, { ...e1, spec: { ...e1.spec, unschedulable: true } });
    const out = await bindTasks(a.pool, [group("1", "beta", [task("beta", "e1", 1)]), group("2", "beta", [task("beta", "e2", 1)]), group("3", "beta", [task("beta", "gone", 1)])]);
    expect(reasons(out)).toEqual(["node e1 is cordoned", "node e2 is not Ready", "node gone no longer exists"]);
  });
});
