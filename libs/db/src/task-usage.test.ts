// node_usage and namespace_usage (the task_usage migration's trigger) hold, after any mix of task
// writes through every write path, exactly what summing the unfinished tasks gives — the binder
// re-checks capacity and quota from them.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { createTestDatabase, type TestDatabase } from "@eiaas/testing";
import { bindTasks } from "./binder.js";
import { bulkUpdateStatus } from "./bulk-status.js";
import { createDatabase, type Database } from "./client.js";
import type { StoredObject } from "./codec.js";
import { ObjectStore } from "./object-store.js";

const TASK = kindInfo("Task");
const NODE = kindInfo("EdgeNode");

let tdb: TestDatabase;
let db: Database;
let store: ObjectStore;

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = createDatabase(tdb.url, { poolSize: 3 });
  store = new ObjectStore(db.pool);
});
afterAll(async () => {
  await db?.close();
  await tdb?.drop();
});
beforeEach(async () => {
  await tdb.reset();
});

interface Held {
  cpu: number;
  mem: number;
  gpu: number;
  load: number;
  tasks: number;
}

/** The usage rows, without the keys whose holds are all zero (a row is kept once it exists). */
async function kept(): Promise<{ nodes: Record<string, Held>; namespaces: Record<string, Omit<Held, "load">> }> {
  const n = await db.pool.query(`SELECT node_name, cpu::float8 AS cpu, memory_mib::float8 AS mem, gpu::float8 AS gpu, "load"::float8 AS load, tasks::int AS tasks FROM node_usage`);
  const s = await db.pool.query(`SELECT namespace, cpu::float8 AS cpu, memory_mib::float8 AS mem, gpu::float8 AS gpu, tasks::int AS tasks FROM namespace_usage`);
  const nonZero = (r: Record<string, unknown>) => ["cpu", "mem", "gpu", "load", "tasks"].some((k) => (r[k] ?? 0) !== 0);
  const nodes: Record<string, Held> = {};
  for (const r of n.rows) if (nonZero(r)) nodes[r.node_name] = { cpu: r.cpu, mem: r.mem, gpu: r.gpu, load: r.load, tasks: r.tasks };
  const namespaces: Record<string, Omit<Held, "load">> = {};
  for (const r of s.rows) if (nonZero(r)) namespaces[r.namespace] = { cpu: r.cpu, mem: r.mem, gpu: r.gpu, tasks: r.tasks };
  return { nodes, namespaces };
}

/** What the tasks hold, summed from their objects here in TypeScript (the binder's own reading). */
async function summed(): Promise<Awaited<ReturnType<typeof kept>>> {
  const num = (v: unknown) => (Number.isFinite(Number(v ?? 0)) ? Number(v ?? 0) : 0);
  const nodes: Record<string, Held> = {};
  const namespaces: Record<string, Omit<Held, "load">> = {};
  for (const t of (await store.list(TASK)).items) {
    if (t.status?.phase === "Succeeded" || t.status?.phase === "Failed") continue;
    const r = t.spec.resources ?? {};
    const add = { cpu: num(r.cpu), mem: num(r.memoryMiB), gpu: num(r.gpu), tasks: 1 };
    const node = (nodes[t.spec.nodeName] ??= { cpu: 0, mem: 0, gpu: 0, load: 0, tasks: 0 });
    const ns = (namespaces[t.metadata.namespace!] ??= { cpu: 0, mem: 0, gpu: 0, tasks: 0 });
    for (const k of ["cpu", "mem", "gpu", "tasks"] as const) {
      node[k] += add[k];
      ns[k] += add[k];
    }
    node.load += typeof t.spec.load === "number" ? t.spec.load : 0;
  }
  // The rows keep exact decimals; these float sums pick up rounding (0.1 + 0.2).
  for (const n of Object.values(nodes)) n.load = Math.round(n.load * 1e9) / 1e9;
  return { nodes, namespaces };
}

/** `load` unknown: the store takes what it is given; only the API validates `spec.load`. */
function newTask(ns: string, node: string, cpu: number, load?: unknown): StoredObject {
  return store.prepareCreate(TASK, {
    apiVersion: API_VERSION,
    metadata: { name: `t-${Math.random().toString(36).slice(2, 10)}`, namespace: ns },
    spec: { nodeName: node, role: "serve", resources: { cpu, memoryMiB: 64, gpu: cpu > 300 ? 1 : 0 }, ...(load === undefined ? {} : { load }) },
    status: { phase: "Dispatched", attempt: 1 },
  } as any);
}

describe("task usage rows", () => {
  it("follow creates, status changes, spec edits, deletes, bulk status writes and binds", async () => {
    for (const name of ["e1", "e2", "e3"]) {
      await store.create(NODE, { apiVersion: API_VERSION, metadata: { name }, spec: { tier: "edge", capacity: { cpu: 100_000, memoryMiB: 1 << 20, gpu: 8 } }, status: { phase: "Ready" } } as any);
    }
    // A seeded walk over the write paths, checked after every step.
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const loads = [undefined, 0.25, 0.1, 1e-1, "not a number", 0.5];
    for (let step = 0; step < 60; step++) {
      const tasks = (await store.list(TASK)).items;
      const pick = () => tasks[rand(tasks.length)]!;
      const op = tasks.length < 4 ? 0 : rand(7);
      const ns = ["acme", "beta"][rand(2)]!;
      const node = ["e1", "e2", "e3"][rand(3)]!;
      if (op === 0) {
        await store.create(TASK, newTask(ns, node, 100 + rand(5) * 100, loads[rand(loads.length)]) as any);
      } else if (op === 1) {
        const t = pick();
        await store.updateStatus(TASK, t, { ...t.status, phase: ["Running", "Succeeded", "Failed", "Dispatched"][rand(4)] });
      } else if (op === 2) {
        const t = pick();
        await store.update(TASK, t, { ...t, spec: { ...t.spec, load: loads[rand(loads.length)] ?? 0, resources: { cpu: 50 * (1 + rand(9)), memoryMiB: 32 } } } as any);
      } else if (op === 3) {
        await store.delete(TASK, pick());
      } else if (op === 4) {
        const some = [pick(), pick(), pick()].filter((t, i, all) => all.findIndex((u) => u.metadata.uid === t.metadata.uid) === i);
        await bulkUpdateStatus(
          db.pool,
          TASK,
          some.map((t) => ({ object: t, status: { ...t.status, phase: ["Running", "Failed"][rand(2)] } })),
        );
      } else if (op === 5) {
        // A bind that supersedes a task of the same namespace (its deletes) while adding two.
        const old = tasks.filter((t) => t.metadata.namespace === ns)[0];
        const out = await bindTasks(db.pool, [{ id: "g", namespace: ns, tasks: [newTask(ns, node, 200, 0.1), newTask(ns, "e1", 100)], ...(old ? { deletes: [old] } : {}) }]);
        expect(out[0]!.bound).toBe(true);
      } else {
        await store.applyBatch([
          { type: "create", kind: TASK, object: newTask(ns, node, 150, 0.3) },
          { type: "delete", kind: TASK, object: pick(), missingOk: true },
        ]);
      }
      expect(await kept(), `after step ${step} (op ${op})`).toEqual(await summed());
    }
  });

  it("counts a load that is not a JSON number as nothing instead of failing the write", async () => {
    const t = await store.create(TASK, newTask("acme", "e1", 100, "lots") as any);
    expect((await kept()).nodes.e1).toEqual({ cpu: 100, mem: 64, gpu: 0, load: 0, tasks: 1 });
    await store.updateStatus(TASK, t, { ...t.status, phase: "Succeeded" });
    expect(await kept()).toEqual({ nodes: {}, namespaces: {} });
  });

  it("lets the binder see room freed by a deleted task at once", async () => {
    await store.create(NODE, { apiVersion: API_VERSION, metadata: { name: "small" }, spec: { tier: "edge", capacity: { cpu: 500, memoryMiB: 4096, gpu: 0 } }, status: { phase: "Ready" } } as any);
    const first = await store.create(TASK, newTask("acme", "small", 400) as any);
    const refused = await bindTasks(db.pool, [{ id: "a", namespace: "acme", tasks: [newTask("acme", "small", 200)] }]);
    expect(refused[0]!.bound).toBe(false);
    await store.delete(TASK, first);
    const ok = await bindTasks(db.pool, [{ id: "b", namespace: "acme", tasks: [newTask("acme", "small", 200)] }]);
    expect(ok[0]!.bound).toBe(true);
    expect((await kept()).nodes.small).toMatchObject({ cpu: 200, tasks: 1 });
  });

  it("lets a bind count the room of the tasks it supersedes, on the node and in the quota", async () => {
    await store.create(kindInfo("Tenant"), { apiVersion: API_VERSION, metadata: { name: "acme" }, spec: { quota: { tasks: 1 } } } as any);
    await store.create(NODE, { apiVersion: API_VERSION, metadata: { name: "small" }, spec: { tier: "edge", capacity: { cpu: 500, memoryMiB: 4096, gpu: 0 } }, status: { phase: "Ready" } } as any);
    const old = await store.create(TASK, newTask("acme", "small", 400) as any);
    const alone = await bindTasks(db.pool, [{ id: "a", namespace: "acme", tasks: [newTask("acme", "small", 300)] }]);
    expect(alone[0]).toMatchObject({ bound: false });
    const rollOver = await bindTasks(db.pool, [{ id: "b", namespace: "acme", tasks: [newTask("acme", "small", 300)], deletes: [old] }]);
    expect(rollOver[0]).toMatchObject({ bound: true });
    expect(await kept()).toEqual({ nodes: { small: { cpu: 300, mem: 64, gpu: 0, load: 0, tasks: 1 } }, namespaces: { acme: { cpu: 300, mem: 64, gpu: 0, tasks: 1 } } });
  });
});
