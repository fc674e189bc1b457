// The store's limits: no object over its size limit is written by create, update or updateStatus
// (one that does not grow may be), namespace_object_counts (the object_counts migration's
// triggers) follows every write path, and a create over its tenant's count quota is refused in
// its own statement — alone in a group commit, and never past the cap however many creates race,
// from one store or from two (two API servers on one database).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { useTestStore } from "@eiaas/testing";
import { createDatabase, type Database } from "./client.js";
import type { StoredObject } from "./codec.js";
import { StoreError } from "./errors.js";
import { ObjectStore } from "./object-store.js";

const MODEL = kindInfo("Model");
const ISVC = kindInfo("InferenceService");
const TENANT = kindInfo("Tenant");

const t = useTestStore({ poolSize: 8 });

const model = (name: string, namespace: string, extra: Record<string, string> = {}) => ({
  apiVersion: API_VERSION,
  metadata: { name, namespace, annotations: extra },
  spec: { inputBytes: 1, accuracy: 0.5, layers: [{ name: "l", flops: 1, outputBytes: 1, memoryMiB: 1 }] },
});
const tenant = (name: string, quota: Record<string, number> = {}) => t.store.create(TENANT, { apiVersion: API_VERSION, metadata: { name }, spec: { weight: 1, quota } });

/** The counts the triggers kept, and the counts of the tables themselves. */
async function counts(): Promise<{ kept: Record<string, number>; actual: Record<string, number> }> {
  const kept: Record<string, number> = {};
  for (const r of (await t.db.pool.query(`SELECT namespace, resource, count::int AS n FROM namespace_object_counts WHERE count <> 0`)).rows) kept[`${r.namespace}/${r.resource}`] = r.n;
  const actual: Record<string, number> = {};
  const rows = await t.db.pool.query(
    `SELECT namespace, 'models' AS resource, count(*)::int AS n FROM models GROUP BY namespace
     UNION ALL SELECT namespace, 'inferenceservices', count(*)::int FROM inference_services GROUP BY namespace
     UNION ALL SELECT namespace, 'trainingjobs', count(*)::int FROM training_jobs GROUP BY namespace`,
  );
  for (const r of rows.rows) actual[`${r.namespace}/${r.resource}`] = r.n;
  return { kept, actual };
}

/** Settles every create; returns how many were written and the errors of the rest. */
async function settle(creates: Array<Promise<StoredObject>>): Promise<{ written: number; errors: unknown[] }> {
  const results = await Promise.allSettled(creates);
  return {
    written: results.filter((r) => r.status === "fulfilled").length,
    errors: results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason),
  };
}

describe("object counts", () => {
  it("follow creates (alone, group-committed, batched) and deletes (alone, batched, by finalizer removal)", async () => {
    await t.store.create(MODEL, model("a", "x"));
    await Promise.all(Array.from({ length: 12 }, (_, i) => t.store.create(MODEL, model(`g${i}`, i % 2 ? "x" : "y"))));
    await t.store.applyBatch([
      { type: "create", kind: MODEL, object: t.store.prepareCreate(MODEL, model("b1", "y")) },
      { type: "create", kind: ISVC, object: t.store.prepareCreate(ISVC, { apiVersion: API_VERSION, metadata: { name: "s", namespace: "y" }, spec: { model: "b1" } }) },
      { type: "create", kind: MODEL, object: t.store.prepareCreate(MODEL, model("b2", "z")) },
    ]);
    expect((await counts()).kept).toEqual({ "x/models": 7, "y/models": 7, "y/inferenceservices": 1, "z/models": 1 });
    await t.store.delete(MODEL, (await t.store.get(MODEL, "x", "a"))!);
    const ys = (await t.store.list(MODEL, { namespace: "y" })).items.slice(0, 3);
    await t.store.applyBatch(ys.map((object) => ({ type: "delete", kind: MODEL, object })));
    const held = await t.store.update(MODEL, (await t.store.get(MODEL, "z", "b2"))!, { ...model("b2", "z"), metadata: { name: "b2", namespace: "z", finalizers: ["x/y"] } });
    const marked = (await t.store.delete(MODEL, held)).object;
    expect((await counts()).kept["z/models"]).toBe(1);
    await t.store.update(MODEL, marked, { ...model("b2", "z"), metadata: { name: "b2", namespace: "z", finalizers: [] } });
    const c = await counts();
    expect(c.kept).toEqual(c.actual);
    expect(c.kept).toEqual({ "x/models": 6, "y/models": 4, "y/inferenceservices": 1 });
  });
});

describe("count quota", () => {
  it("refuses the create over the tenant's cap with Kubernetes' message; a delete makes room", async () => {
    await tenant("capped", { "count/models": 2 });
    const quota = { countQuota: { defaultLimit: 100 } };
    await t.store.create(MODEL, model("m1", "capped"), quota);
    await t.store.create(MODEL, model("m2", "capped"), quota);
    const refused = await t.store.create(MODEL, model("m3", "capped"), quota).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StoreError);
    expect((refused as StoreError).reason).toBe("Forbidden");
    expect((refused as StoreError).message).toBe('models "m3" is forbidden: exceeded quota: capped, requested: count/models=1, used: count/models=2, limited: count/models=2');
    expect(await t.store.get(MODEL, "capped", "m3")).toBeNull();
    // Other kinds are counted apart; without a quota of the tenant's, the default caps.
    await t.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "s", namespace: "capped" }, spec: { model: "m1" } }, { countQuota: { defaultLimit: 1 } });
    await expect(t.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "s2", namespace: "capped" }, spec: { model: "m1" } }, { countQuota: { defaultLimit: 1 } })).rejects.toMatchObject({
      reason: "Forbidden",
    });
    await t.store.delete(MODEL, (await t.store.get(MODEL, "capped", "m1"))!);
    await t.store.create(MODEL, model("m3", "capped"), quota);
    // No quota asked (the control plane's own writes), or no cap at all: not counted against.
    await t.store.create(MODEL, model("m4", "capped"));
    await tenant("free");
    for (let i = 0; i < 3; i++) await t.store.create(MODEL, model(`f${i}`, "free"), { countQuota: { defaultLimit: null } });
  });

  it("many concurrent creates (group-committed) never pass the cap, and each over it fails alone", async () => {
    await tenant("race", { "count/models": 7 });
    await tenant("other");
    const quota = { countQuota: { defaultLimit: 1000 } };
    const racing: Array<Promise<StoredObject>> = [];
    const others: Array<Promise<StoredObject>> = [];
    for (let i = 0; i < 40; i++) {
      racing.push(t.store.create(MODEL, model(`r${i}`, "race"), quota));
      // In the same group commits: another tenant's models, and the tenant's own InferenceServices
      // (runs of two kinds: a transaction of several statements, each checked), are written.
      if (i % 4 === 0) others.push(t.store.create(MODEL, model(`o${i}`, "other"), quota));
      if (i % 4 === 2) others.push(t.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: `s${i}`, namespace: "race" }, spec: { model: "m" } }, quota));
    }
    const race = await settle(racing);
    expect(race.written).toBe(7);
    expect(race.errors).toHaveLength(33);
    for (const e of race.errors)
      expect(e).toMatchObject({
        reason: "Forbidden",
        message: expect.stringMatching(/^models "r\d+" is forbidden: exceeded quota: race, requested: count\/models=1, used: count\/models=7, limited: count\/models=7$/),
      });
    expect((await settle(others)).written).toBe(20);
    const c = await counts();
    expect(c.kept).toEqual(c.actual);
    expect(c.actual).toEqual({ "race/models": 7, "race/inferenceservices": 10, "other/models": 10 });
  });

  describe("stores on one database (API servers behind a load balancer)", () => {
    let others: Database[] = [];
    beforeAll(() => {
      others = Array.from({ length: 3 }, () => createDatabase(t.tdb.url, { poolSize: 4 }));
    });
    afterAll(async () => {
      for (const d of others) await d.close();
    });

    it("racing creates from four stores never pass any tenant's cap", async () => {
      // Many tenants with a small cap: every tenant's cap is crossed while the stores' statements
      // overlap in Postgres, where a check that read a stale count (a statement's snapshot from
      // before it waited for the counter row) would let a second create through.
      const stores = [t.store, ...others.map((d) => new ObjectStore(d.pool))];
      const tenants = 32;
      for (let n = 0; n < tenants; n++) await tenant(`shared-${n}`, { "count/inferenceservices": 3 });
      const quota = { countQuota: { defaultLimit: null } };
      const creates: Array<Promise<StoredObject>> = [];
      for (let i = 0; i < 3; i++) {
        for (let n = 0; n < tenants; n++) {
          for (const [k, store] of stores.entries()) {
            creates.push(store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: `s${k}-${i}`, namespace: `shared-${n}` }, spec: { model: "m" } }, quota));
          }
        }
      }
      const result = await settle(creates);
      for (const e of result.errors) expect(e).toMatchObject({ reason: "Forbidden" });
      const held = await t.db.pool.query(`SELECT namespace, count(*)::int AS n FROM inference_services GROUP BY namespace ORDER BY namespace`);
      expect(held.rows.filter((r) => r.n !== 3)).toEqual([]);
      expect(held.rows).toHaveLength(tenants);
      expect(result.written).toBe(3 * tenants);
    });
  });
});

describe("object size", () => {
  it("refuses a create, an update that grows and a status write over the limit; a write that does not grow is taken", async () => {
    const small = new ObjectStore(t.db.pool, { maxObjectBytes: 4096 });
    const big = "é".repeat(1500); // 3,000 bytes, 1,500 characters: bytes are counted, not characters
    const created = await small.create(MODEL, model("s", "ns", { a: big }));
    const over = await small.create(MODEL, model("t", "ns", { a: big, b: big })).catch((e: unknown) => e);
    expect(over).toMatchObject({ reason: "RequestEntityTooLarge", message: expect.stringMatching(/^Request entity too large: models "t" would be \d+ bytes stored; limit is 4096$/) });
    expect(await small.get(MODEL, "ns", "t")).toBeNull();
    await expect(small.update(MODEL, created, model("s", "ns", { a: big, b: big }))).rejects.toMatchObject({ reason: "RequestEntityTooLarge" });
    await expect(small.updateStatus(MODEL, created, { phase: big })).rejects.toMatchObject({ reason: "RequestEntityTooLarge" });
    expect((await small.get(MODEL, "ns", "s"))!.metadata.resourceVersion).toBe(created.metadata.resourceVersion);

    // Stored under a larger limit: still written while it does not grow (finalizers, deletion).
    const legacy = await t.store.create(MODEL, model("legacy", "ns", { a: big, b: big }));
    const kept = await small.update(MODEL, legacy, {
      ...model("legacy", "ns", { a: big, b: "x" }),
      metadata: { name: "legacy", namespace: "ns", annotations: { a: big, b: "x" }, finalizers: ["keep"] },
    });
    await expect(small.update(MODEL, kept, model("legacy", "ns", { a: big, b: big + big }))).rejects.toMatchObject({ reason: "RequestEntityTooLarge" });
    const marked = (await small.delete(MODEL, kept)).object;
    await small.update(MODEL, marked, { ...model("legacy", "ns", { a: big, b: "x" }), metadata: { name: "legacy", namespace: "ns", annotations: { a: big, b: "x" }, finalizers: [] } });
    expect(await small.get(MODEL, "ns", "legacy")).toBeNull();
  });
});
