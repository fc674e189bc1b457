import { beforeAll, describe, expect, it } from "vitest";
import { kindInfo, parseFieldSelector, parseLabelSelector } from "@eiaas/api";
import { useTestStore, type TestDatabase } from "@eiaas/testing";
import { createDatabase, type Database } from "./client.js";
import { StoreError } from "./errors.js";
import { ObjectStore } from "./object-store.js";

const MODEL = kindInfo("Model");
const TASK = kindInfo("Task");
const ISVC = kindInfo("InferenceService");
const NODE = kindInfo("EdgeNode");

// The file's own database, pool and store, reset before each test (libs/testing's fixture).
const fixture = useTestStore({ poolSize: 10 });
let db: TestDatabase;
let database: Database;
let store: ObjectStore;
beforeAll(() => void ({ tdb: db, db: database, store } = fixture));

const model = (name: string, labels: Record<string, string> = {}, namespace = "acme") => ({
  metadata: { name, namespace, labels },
  spec: { inputBytes: 1, accuracy: 0.5, layers: [{ name: "l1", flops: 1, outputBytes: 1, memoryMiB: 0 }] },
});

describe("ObjectStore", () => {
  it("creates with server-set metadata and increasing resourceVersions", async () => {
    const a = await store.create(MODEL, model("a"));
    const b = await store.create(MODEL, model("b"));
    expect(a.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.metadata.generation).toBe(1);
    expect(BigInt(b.metadata.resourceVersion)).toBeGreaterThan(BigInt(a.metadata.resourceVersion));
    const got = await store.get(MODEL, "acme", "a");
    expect(got).toEqual(a);
    expect(await store.get(MODEL, "other", "a")).toBeNull();
  });

  it("rejects a second object with the same name as AlreadyExists", async () => {
    await store.create(MODEL, model("a"));
    await expect(store.create(MODEL, model("a"))).rejects.toMatchObject({ reason: "AlreadyExists" });
    // The same name in another namespace is a different object.
    await expect(store.create(MODEL, model("a", {}, "other"))).resolves.toBeTruthy();
  });

  it("writes a batch of creates as one statement: versions in order, readable back, all or nothing", async () => {
    const ops = ["b1", "b2", "b3"].map((n) => ({ type: "create" as const, kind: MODEL, object: store.prepareCreate(MODEL, model(n)) }));
    const created = await store.applyBatch([
      ...ops,
      { type: "create" as const, kind: TASK, object: store.prepareCreate(TASK, { metadata: { name: "t", namespace: "acme" }, spec: { role: "serve" } } as any) },
    ]);
    expect(created.map((o) => o.metadata.name)).toEqual(["b1", "b2", "b3", "t"]);
    const rvs = created.map((o) => BigInt(o.metadata.resourceVersion));
    expect(rvs).toEqual([rvs[0]!, rvs[0]! + 1n, rvs[0]! + 2n, rvs[0]! + 3n]);
    for (const o of created.slice(0, 3)) expect(await store.get(MODEL, "acme", o.metadata.name)).toEqual(o);
    // One of a run already exists: nothing of the batch is written.
    const again = ["c1", "b2"].map((n) => ({ type: "create" as const, kind: MODEL, object: store.prepareCreate(MODEL, model(n)) }));
    await expect(store.applyBatch(again)).rejects.toMatchObject({ reason: "AlreadyExists" });
    expect(await store.get(MODEL, "acme", "c1")).toBeNull();
  });

  it("a pipelined batch that misses a precondition writes and logs nothing, and its connection stays usable", async () => {
    // One connection: the failed batch's and the next batch's statements share it.
    const one = createDatabase(db.url, { poolSize: 1 });
    const s1 = new ObjectStore(one.pool);
    try {
      const a = await s1.create(MODEL, model("a"));
      const stale = { ...a, spec: { ...(a.spec as object), accuracy: 0.9 } };
      const before = await logLength();
      const batch = [
        { type: "create" as const, kind: MODEL, object: s1.prepareCreate(MODEL, model("x")) },
        { type: "update" as const, kind: MODEL, object: { ...a, metadata: { ...a.metadata, labels: { v: "2" } } }, expectedResourceVersion: a.metadata.resourceVersion },
        { type: "update" as const, kind: MODEL, object: stale, expectedResourceVersion: "1" },
      ];
      await expect(s1.applyBatch(batch)).rejects.toMatchObject({ reason: "Conflict" });
      // The stale op alone is one statement committed on its own: the same Conflict.
      await expect(s1.applyBatch([batch[2]!])).rejects.toMatchObject({ reason: "Conflict" });
      expect(await s1.get(MODEL, "acme", "x")).toBeNull();
      expect(await s1.get(MODEL, "acme", "a")).toEqual(a);
      expect(await logLength()).toBe(before);
      // The same batch without the stale op: every op written, each logged at its version.
      const written = await s1.applyBatch(batch.slice(0, 2));
      expect(written.map((o) => o.metadata.name)).toEqual(["x", "a"]);
      expect(BigInt(written[1]!.metadata.resourceVersion)).toBe(BigInt(written[0]!.metadata.resourceVersion) + 1n);
      expect(await s1.get(MODEL, "acme", "a")).toEqual(written[1]);
      const logged = await one.pool.query<{ resource_version: string; type: string; object: { metadata: { resourceVersion: string; labels: Record<string, string> } } }>(
        `SELECT resource_version::text, type, object FROM watch_events WHERE resource_version > $1 ORDER BY resource_version`,
        [a.metadata.resourceVersion],
      );
      expect(logged.rows.map((r) => [r.resource_version, r.type, r.object.metadata.resourceVersion])).toEqual(
        written.map((o, i) => [o.metadata.resourceVersion, i === 0 ? "ADDED" : "MODIFIED", o.metadata.resourceVersion]),
      );
      expect(logged.rows[1]!.object.metadata.labels).toEqual({ v: "2" });
      // A lone delete: its own version, logged, and a second time NotFound.
      const [gone] = await s1.applyBatch([{ type: "delete", kind: MODEL, object: written[0]! }]);
      expect(BigInt(gone!.metadata.resourceVersion)).toBe(BigInt(written[1]!.metadata.resourceVersion) + 1n);
      expect(await s1.get(MODEL, "acme", "x")).toBeNull();
      await expect(s1.applyBatch([{ type: "delete", kind: MODEL, object: written[0]! }])).rejects.toMatchObject({ reason: "NotFound" });
      expect(await logLength()).toBe(before + 3);
    } finally {
      await one.close();
    }
  });

  it("keeps writing through prepared statements after a migration adds a column to the table", async () => {
    let a = await store.create(MODEL, model("a"));
    // Past Postgres' five custom plans: the cached generic plan is in use from here on.
    for (let i = 0; i < 8; i++) a = await store.update(MODEL, a, { ...a, metadata: { ...a.metadata, labels: { i: String(i) } } });
    await database.pool.query(`ALTER TABLE "${MODEL.table}" ADD COLUMN added_later text`);
    try {
      for (let i = 0; i < 3; i++) a = await store.update(MODEL, a, { ...a, metadata: { ...a.metadata, labels: { after: String(i) } } });
      expect((await store.get(MODEL, "acme", "a"))?.metadata.labels).toEqual({ after: "2" });
      const b = await store.create(MODEL, model("b"));
      expect(await store.get(MODEL, "acme", "b")).toEqual(b);
    } finally {
      await database.pool.query(`ALTER TABLE "${MODEL.table}" DROP COLUMN added_later`);
    }
  });

  it("group-commits concurrent creates: fewer transactions than creates, every one readable", async () => {
    const ok = await Promise.all(Array.from({ length: 20 }, (_, i) => store.create(MODEL, model(`g${i}`))));
    expect(new Set(ok.map((o) => o.metadata.resourceVersion)).size).toBe(20);
    for (const o of ok) expect(await store.get(MODEL, "acme", o.metadata.name)).toEqual(o);
    const txs = await database.pool.query<{ n: number }>(`SELECT count(DISTINCT xmin::text)::int AS n FROM models`);
    expect(txs.rows[0]!.n).toBeLessThan(20);
  });

  it("a taken name in a group-committed batch fails alone: every other caller gets its object", async () => {
    const names = [...Array.from({ length: 10 }, (_, i) => `d${i}`), "d3"];
    const results = await Promise.allSettled(names.map((n) => store.create(MODEL, model(n))));
    const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.metadata.name] : []));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(ok.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `d${i}`).sort());
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ reason: "AlreadyExists" });
  });

  it("bumps generation only when spec changes and detects stale writes", async () => {
    const a = await store.create(MODEL, model("a"));
    const labelled = await store.update(MODEL, a, { ...model("a", { x: "1" }) });
    expect(labelled.metadata.generation).toBe(1);
    expect(labelled.metadata.labels).toEqual({ x: "1" });
    const changed = await store.update(MODEL, labelled, { ...model("a"), spec: { ...model("a").spec, accuracy: 0.9 } });
    expect(changed.metadata.generation).toBe(2);
    // Writing from the old version is a Conflict, not a lost update.
    const err = await store.update(MODEL, a, model("a")).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.reason).toBe("Conflict");
  });

  it("lists with label and field selectors and pages with continue", async () => {
    for (let i = 0; i < 7; i++) await store.create(MODEL, model(`m${i}`, { tier: i % 2 ? "odd" : "even" }));
    await store.create(MODEL, model("z", { tier: "odd" }, "other"));
    const odd = await store.list(MODEL, { namespace: "acme", labels: parseLabelSelector("tier=odd") });
    expect(odd.items.map((o) => o.metadata.name)).toEqual(["m1", "m3", "m5"]);
    const notOdd = await store.list(MODEL, { labels: parseLabelSelector("tier notin (odd)") });
    expect(notOdd.items.map((o) => o.metadata.name)).toEqual(["m0", "m2", "m4", "m6"]);
    const all = await store.list(MODEL, { labels: parseLabelSelector("tier in (odd),tier") });
    expect(all.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(["acme/m1", "acme/m3", "acme/m5", "other/z"]);
    const byName = await store.list(MODEL, { fields: parseFieldSelector("metadata.name=m4") });
    expect(byName.items).toHaveLength(1);

    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const page = await store.list(MODEL, { namespace: "acme", limit: 3, continue: token });
      pages.push(page.items.map((o) => o.metadata.name));
      token = page.continue;
    } while (token);
    expect(pages).toEqual([["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6"]]);
  });

  it("refuses unsupported field selectors and bad continue tokens", async () => {
    await expect(store.list(MODEL, { fields: parseFieldSelector("spec.nodeName=x") })).rejects.toMatchObject({ reason: "Invalid" });
    await expect(store.list(MODEL, { continue: "!!" })).rejects.toMatchObject({ reason: "Invalid" });
    await expect(store.list(TASK, { fields: parseFieldSelector("spec.nodeName=n1,status.phase!=Running") })).resolves.toBeTruthy();
  });

  it("marks objects with finalizers and deletes them when the last finalizer goes", async () => {
    const t = await store.create(kindInfo("Tenant"), { metadata: { name: "acme", finalizers: ["eiaas.io/namespace"] }, spec: { weight: 1 } });
    const marked = await store.delete(kindInfo("Tenant"), t);
    expect(marked.deleted).toBe(false);
    expect(marked.object.metadata.deletionTimestamp).toBeTruthy();
    const after = await store.update(kindInfo("Tenant"), marked.object, { metadata: { name: "acme", finalizers: [] }, spec: { weight: 1 } });
    expect(after.metadata.deletionTimestamp).toBeTruthy();
    expect(await store.get(kindInfo("Tenant"), undefined, "acme")).toBeNull();
  });

  it("cascades deletion to owned objects in one transaction", async () => {
    const svc = await store.create(ISVC, { metadata: { name: "s", namespace: "acme" }, spec: { model: "m" } });
    const owner = [{ apiVersion: "eiaas.io/v1alpha1", kind: "InferenceService", name: "s", uid: svc.metadata.uid, controller: true }];
    for (const n of ["t1", "t2"]) {
      await store.create(TASK, { metadata: { name: n, namespace: "acme", ownerReferences: owner }, spec: { role: "serve", nodeName: "n1" } });
    }
    await store.create(TASK, { metadata: { name: "other", namespace: "acme" }, spec: { role: "serve" } });
    await store.delete(ISVC, svc);
    const left = await store.list(TASK, {});
    expect(left.items.map((t) => t.metadata.name)).toEqual(["other"]);
  });

  it("removing the last finalizer cascades as a delete without finalizers does: same dependents, one transaction", async () => {
    const svc = await store.create(ISVC, { metadata: { name: "s", namespace: "acme", finalizers: ["example.com/hold"] }, spec: { model: "m" } });
    const owner = [{ apiVersion: "eiaas.io/v1alpha1", kind: "InferenceService", name: "s", uid: svc.metadata.uid, controller: true }];
    for (const n of ["t1", "t2"]) await store.create(TASK, { metadata: { name: n, namespace: "acme", ownerReferences: owner }, spec: { role: "serve", nodeName: "n1" } });
    await store.create(TASK, { metadata: { name: "other", namespace: "acme" }, spec: { role: "serve" } });
    const marked = await store.delete(ISVC, svc);
    expect(marked.deleted).toBe(false);
    // Marked for deletion, its tasks are kept (the owner still exists).
    expect((await store.list(TASK, {})).items.map((t) => t.metadata.name)).toEqual(["other", "t1", "t2"]);
    const before = BigInt(await store.currentResourceVersion());
    const gone = await store.update(ISVC, marked.object, { metadata: { name: "s", namespace: "acme", finalizers: [] }, spec: { model: "m" } });
    expect(gone.metadata.deletionTimestamp).toBeTruthy();
    expect(await store.get(ISVC, "acme", "s")).toBeNull();
    expect((await store.list(TASK, {})).items.map((t) => t.metadata.name)).toEqual(["other"]);
    // One transaction: the owner's and its tasks' DELETED events follow each other in the log.
    const log = await database.pool.query(`SELECT kind, name, type FROM watch_events WHERE resource_version > $1 ORDER BY resource_version`, [before.toString()]);
    expect(log.rows).toEqual([
      { kind: "InferenceService", name: "s", type: "DELETED" },
      { kind: "Task", name: "t1", type: "DELETED" },
      { kind: "Task", name: "t2", type: "DELETED" },
    ]);
  });

  it("a cascade whose dependent another writer deleted meanwhile still deletes the rest", async () => {
    const svc = await store.create(ISVC, { metadata: { name: "s", namespace: "acme" }, spec: { model: "m" } });
    const owner = [{ apiVersion: "eiaas.io/v1alpha1", kind: "InferenceService", name: "s", uid: svc.metadata.uid, controller: true }];
    const [t1, t2] = [
      await store.create(TASK, { metadata: { name: "t1", namespace: "acme", ownerReferences: owner }, spec: { role: "serve" } }),
      await store.create(TASK, { metadata: { name: "t2", namespace: "acme", ownerReferences: owner }, spec: { role: "serve" } }),
    ];
    // The cascade read t1 and t2; a controller deletes t1 before the cascade's transaction.
    await store.delete(TASK, t1!);
    await store.applyBatch([
      { type: "delete", kind: ISVC, object: svc },
      { type: "delete", kind: TASK, object: t1!, missingOk: true },
      { type: "delete", kind: TASK, object: t2!, missingOk: true },
    ]);
    expect(await store.get(ISVC, "acme", "s")).toBeNull();
    expect((await store.list(TASK, {})).items).toEqual([]);
    // Without missingOk the same miss is still a NotFound for the whole batch.
    const u = await store.create(TASK, { metadata: { name: "u", namespace: "acme" }, spec: { role: "serve" } });
    await expect(
      store.applyBatch([
        { type: "delete", kind: TASK, object: u },
        { type: "delete", kind: TASK, object: t1! },
      ]),
    ).rejects.toMatchObject({ reason: "NotFound" });
    expect(await store.get(TASK, "acme", "u")).not.toBeNull();
  });

  it("writes status without touching spec and keeps cluster-scoped objects namespace-free", async () => {
    const n = await store.create(NODE, { metadata: { name: "edge-1" }, spec: { tier: "edge" } });
    expect(n.metadata.namespace).toBeUndefined();
    const s = await store.updateStatus(NODE, n, { phase: "Ready" });
    expect(s.status).toEqual({ phase: "Ready" });
    expect(s.spec).toEqual({ tier: "edge" });
    const ready = await store.list(NODE, { fields: parseFieldSelector("status.phase=Ready") });
    expect(ready.items).toHaveLength(1);
  });
});

async function logLength(): Promise<number> {
  const r = await database.pool.query<{ n: string }>("SELECT count(*) AS n FROM watch_events");
  return Number(r.rows[0]!.n);
}
