// Which dependents are garbage (Kubernetes' garbage collector: owner references by uid, every owner
// gone), decided on a fresh read of Postgres whatever the caller's cache showed.
import { describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { useTestStore } from "@eiaas/testing";
import type { StoredObject } from "./codec.js";
import { findGarbage } from "./garbage.js";

const ISVC = kindInfo("InferenceService");
const TJ = kindInfo("TrainingJob");
const MODEL = kindInfo("Model");
const TASK = kindInfo("Task");

const fx = useTestStore();

type Ref = { kind: string; name: string; uid: string; controller?: boolean };
const ref = (o: StoredObject, controller = true): Ref => ({ kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, controller });
const task = (name: string, owners: Ref[]) =>
  fx.store.create(TASK, {
    apiVersion: API_VERSION,
    metadata: { name, namespace: "acme", ownerReferences: owners.map((o) => ({ apiVersion: API_VERSION, ...o })) },
    spec: { nodeName: "e1", role: "serve" },
  } as any);
const workload = (kind = ISVC, name = "w") => fx.store.create(kind, { apiVersion: API_VERSION, metadata: { name, namespace: "acme" }, spec: { model: "m" } } as any);
const GONE = "00000000-0000-4000-8000-0000000000aa";

describe("findGarbage", () => {
  it("decides from the owners' own tables, by uid", async () => {
    const live = await workload();
    const job = await workload(TJ, "j");
    const model = await fx.store.create(MODEL, {
      apiVersion: API_VERSION,
      metadata: { name: "m", namespace: "acme" },
      spec: { inputBytes: 1, accuracy: 0.5, layers: [{ name: "l", flops: 1, outputBytes: 1, memoryMiB: 1 }] },
    } as any);
    const cases: Array<{ what: string; owners: Ref[]; garbage: boolean }> = [
      { what: "owner exists", owners: [ref(live)], garbage: false },
      { what: "owner of another workload kind exists", owners: [ref(job)], garbage: false },
      { what: "owner of a non-workload kind exists", owners: [ref(model)], garbage: false },
      { what: "owner gone", owners: [{ kind: "InferenceService", name: "old", uid: GONE, controller: true }], garbage: true },
      { what: "same name, another uid (re-created)", owners: [{ kind: "InferenceService", name: "w", uid: GONE, controller: true }], garbage: true },
      { what: "uid of an existing object of another kind", owners: [{ kind: "InferenceService", name: "j", uid: job.metadata.uid, controller: true }], garbage: true },
      { what: "one of two owners exists", owners: [{ kind: "InferenceService", name: "old", uid: GONE }, ref(live, false)], garbage: false },
      {
        what: "both owners gone",
        owners: [
          { kind: "InferenceService", name: "old", uid: GONE },
          { kind: "TrainingJob", name: "x", uid: "00000000-0000-4000-8000-0000000000bb" },
        ],
        garbage: true,
      },
      { what: "owner of a kind this server does not know", owners: [{ kind: "Deployment", name: "d", uid: GONE, controller: true }], garbage: false },
      // (The indexed owner column takes the controller's uid, which must be one; another owner's need not.)
      {
        what: "second owner's uid is no uuid",
        owners: [
          { kind: "InferenceService", name: "old", uid: GONE, controller: true },
          { kind: "InferenceService", name: "w", uid: "not-a-uid" },
        ],
        garbage: true,
      },
      { what: "no owners at all (made by hand)", owners: [], garbage: false },
    ];
    const tasks = new Map<string, StoredObject>();
    for (const [i, c] of cases.entries()) tasks.set(c.what, await task(`t${i}`, c.owners));
    const garbage = new Set((await findGarbage(fx.db.pool, TASK, [...tasks.values()])).map((t) => t.metadata.uid));
    expect(cases.map((c) => [c.what, garbage.has(tasks.get(c.what)!.metadata.uid)])).toEqual(cases.map((c) => [c.what, c.garbage]));
  });

  it("trusts no cache: an owner the caller has not seen yet keeps its dependents; what is returned is the object as it is now", async () => {
    // The caller's copy of the task was read before its owner existed for it (a cache behind):
    // the owner is in Postgres, so nothing is garbage.
    const owner = await workload();
    const t = await task("t", [ref(owner)]);
    expect(await findGarbage(fx.db.pool, TASK, [t])).toEqual([]);
    // Owner deleted (without its task); the caller's copy is stale: the fresh row comes back.
    await fx.store.applyBatch([{ type: "delete", kind: ISVC, object: owner }]);
    const updated = await fx.store.updateStatus(TASK, t, { phase: "Running" });
    const [found] = await findGarbage(fx.db.pool, TASK, [t]);
    expect(found?.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
    // A candidate already deleted is not returned.
    await fx.store.applyBatch([{ type: "delete", kind: TASK, object: updated }]);
    expect(await findGarbage(fx.db.pool, TASK, [t])).toEqual([]);
  });
});
