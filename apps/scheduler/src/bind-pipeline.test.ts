// The cycle's bind pipeline on a real Postgres: chunks bound in plan order, each chunk's bound tasks
// handed to dispatch, a refused group reported (not bound), a group whose rows fail isolated from
// the rest, an enqueue failure reported after.
import { beforeEach, describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import type { BindGroup, StoredObject } from "@eiaas/db";
import { useTestStore } from "@eiaas/testing";
import { BindPipeline } from "./bind-pipeline.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const TASK = kindInfo("Task");

const fx = useTestStore({ poolSize: 3 });
beforeEach(async () => {
  await fx.store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: "acme" }, spec: {} } as any);
  await fx.store.create(NODE, { apiVersion: API_VERSION, metadata: { name: "e1" }, spec: { tier: "edge", capacity: { cpu: 1000, memoryMiB: 4096, gpu: 0 } }, status: { phase: "Ready" } } as any);
});

let seq = 0;
const task = (cpu: number): StoredObject =>
  fx.store.prepareCreate(TASK, {
    apiVersion: API_VERSION,
    metadata: { name: `t-${++seq}`, namespace: "acme" },
    spec: { nodeName: "e1", role: "serve", resources: { cpu, memoryMiB: 1, gpu: 0 } },
    status: { phase: "Dispatched", attempt: 1 },
  } as any);
const group = (id: string, ...tasks: StoredObject[]): BindGroup => ({ id, namespace: "acme", tasks });

describe("BindPipeline", () => {
  it("binds in chunks in plan order, dispatching each chunk's bound tasks", async () => {
    const dispatched: string[][] = [];
    const binds = new BindPipeline(fx.db.pool, { chunkTasks: 2, dispatch: async (tasks) => void dispatched.push(tasks.map((t) => t.metadata.name)) });
    const a = group("a", task(400), task(400));
    const b = group("b", task(100));
    const c = group("c", task(300)); // does not fit after a and b: refused
    const d = group("d", task(100));
    for (const g of [a, b, c, d]) binds.add(g);
    const outcomes = await binds.finish();
    expect(outcomes.map((o) => [o.id, o.bound])).toEqual([
      ["a", true],
      ["b", true],
      ["c", false],
      ["d", true],
    ]);
    expect(await binds.dispatched()).toBeUndefined();
    // Chunks: [a] (2 tasks), then [b, c] (2 tasks), then [d].
    expect(dispatched).toEqual([a.tasks.map((t) => t.metadata.name), b.tasks.map((t) => t.metadata.name), d.tasks.map((t) => t.metadata.name)]);
    const rows = await fx.db.pool.query<{ name: string; resource_version: string }>(`SELECT name, resource_version::text FROM tasks ORDER BY resource_version`);
    expect(rows.rows.map((r) => r.name)).toEqual([...a.tasks, ...b.tasks, ...d.tasks].map((t) => t.metadata.name));
    // What the pipeline hands back carries the versions the rows got.
    const bound = outcomes.flatMap((o) => (o.bound ? o.tasks : []));
    expect(bound.map((t) => t.metadata.resourceVersion)).toEqual(rows.rows.map((r) => r.resource_version));
  });

  it("a bind that fails on one group's rows binds every other group and fails that one alone", async () => {
    // b's task clashes with a task that exists (tasks_namespace_name_key); d's breaks a check.
    const taken = task(10);
    await fx.store.create(TASK, { apiVersion: API_VERSION, metadata: { name: taken.metadata.name, namespace: "acme" }, spec: { nodeName: "e1", role: "serve" } } as any);
    await fx.db.pool.query(`ALTER TABLE tasks ADD CONSTRAINT test_no_refused CHECK (name NOT LIKE 'refused-%') NOT VALID`);
    try {
      const refused = { ...task(10), metadata: { ...task(10).metadata, name: "refused-1" } };
      const dispatched: string[] = [];
      const binds = new BindPipeline(fx.db.pool, { dispatch: async (tasks) => void dispatched.push(...tasks.map((t) => t.metadata.name)) });
      const groups = [group("a", task(10)), group("b", task(10), taken), group("c", task(10)), group("d", refused), group("e", task(10), task(10))];
      for (const g of groups) binds.add(g);
      const outcomes = await binds.finish();
      expect(outcomes.map((o) => [o.id, o.bound, !o.bound && o.failed === true])).toEqual([
        ["a", true, false],
        ["b", false, true],
        ["c", true, false],
        ["d", false, true],
        ["e", true, false],
      ]);
      const b = outcomes[1] as { reason: string };
      expect(b.reason).toMatch(/^bind failed: duplicate key value violates unique constraint "tasks_namespace_name_key" \(Key \(namespace, name\)=\(acme, t-\d+\) already exists\.\)$/);
      expect((outcomes[3] as { reason: string }).reason).toMatch(/^bind failed: .*"test_no_refused"$/);
      await binds.dispatched();
      const bound = ["a", "c", "e"].flatMap((id) => groups.find((g) => g.id === id)!.tasks.map((t) => t.metadata.name));
      expect(dispatched.sort()).toEqual([...bound].sort());
      const rows = await fx.db.pool.query<{ name: string }>(`SELECT name FROM tasks WHERE uid <> ALL($1::uuid[]) ORDER BY name`, [[taken.metadata.uid]]);
      expect(rows.rows.map((r) => r.name).sort()).toEqual([...bound, taken.metadata.name].sort());
    } finally {
      await fx.db.pool.query(`ALTER TABLE tasks DROP CONSTRAINT test_no_refused`);
    }
  });

  it("a bind that fails for another reason (Postgres away) fails the whole cycle, as before", async () => {
    const { createDatabase, freePort } = await import("@eiaas/db");
    const away = createDatabase(`postgresql://127.0.0.1:${await freePort()}/none`, { poolSize: 1 });
    try {
      const binds = new BindPipeline(away.pool);
      binds.add(group("a", task(10)));
      binds.add(group("b", task(10)));
      await expect(binds.finish()).rejects.toThrow(/ECONNREFUSED|connect/);
    } finally {
      await away.close();
    }
  });

  it("reports a failed enqueue after binding everything", async () => {
    const binds = new BindPipeline(fx.db.pool, { chunkTasks: 1, dispatch: async () => Promise.reject(new Error("redis away")) });
    binds.add(group("a", task(10)));
    binds.add(group("b", task(10)));
    expect((await binds.finish()).every((o) => o.bound)).toBe(true);
    expect(await binds.dispatched()).toMatchObject({ message: "redis away" });
    expect((await fx.db.pool.query(`SELECT count(*)::int AS n FROM tasks`)).rows[0].n).toBe(2);
  });
});
