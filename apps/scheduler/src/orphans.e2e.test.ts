// Tasks that outlive their workload, and task names that clash (issues "Hardening: no tenant can
// halt scheduling" and "Converge after every fault"):
// - a workload with a foreign finalizer, deleted, then its finalizer removed: its tasks go with it
//   (they stayed, and its re-creation under the same name made every cycle fail for every tenant);
// - tasks left without their owner (as that bug and the namespace cleanup leave them) are
//   collected by the scheduler's garbage collector; an owner that exists keeps its tasks;
// - workloads whose names differ only past 200 characters, and a workload re-created while the
//   previous one's tasks are still being removed, get task names of their own (they clashed on
//   `tasks_namespace_name_key`, every cycle failing until the clashing task went away).
// Real Postgres and Redis, the API, the scheduler, node agents.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, kindInfo } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { GarbageCollector } from "./garbage-collector.js";
import { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");

let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane({ scheduler: { resyncMs: 200 } });
  for (const t of ["acme", "beta"]) {
    await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: t } });
    await cp.apply(`/namespaces/${t}/models`, MODEL);
  }
  // Real agents: they stop the runs of tasks that are deleted (a collected task frees its slot).
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("edge-1", edgeSpec("cloud-1"));
  await cp.startAgent("dev-1", deviceSpec("edge-1"), { client: "cam" });
  await cp.startAgent("dev-2", deviceSpec("edge-1"), { client: "door" });
});
afterAll(() => cp.close());

const admin = () => cp.admin();
const path = (ns: string, name = "") => `${API_PREFIX}/namespaces/${ns}/inferenceservices${name ? `/${name}` : ""}`;
const workload = (ns: string, name: string) => cp.get(`/namespaces/${ns}/inferenceservices/${name}`);
const running = async (ns: string, name: string) => (await workload(ns, name)).status?.phase === "Running";
/** Every task row of the namespace whose owner reference names `name` (whatever its uid). */
const tasksNamed = async (ns: string, name: string) =>
  (
    await cp.db.pool.query<{ name: string; owner: string }>(`SELECT name, owner_uid::text AS owner FROM tasks WHERE namespace = $1 AND owner_references @> $2::jsonb ORDER BY name`, [
      ns,
      JSON.stringify([{ name }]),
    ])
  ).rows;
const cycleFailures = () => cp.schedulerLog.lines.filter((l) => l.msg === "scheduling cycle failed; retrying on the next one");
const collected = () => cp.schedulerLog.lines.filter((l) => l.msg === "garbage collected: tasks whose owner no longer exists");
const removeFinalizers = (ns: string, name: string) =>
  request(cp.api.app)
    .patch(path(ns, name))
    .set(admin())
    .set("Content-Type", "application/merge-patch+json")
    .send({ metadata: { finalizers: null } })
    .expect(200);

/** Deletes a workload without its tasks, as the namespace cleanup does (workloads a page before tasks) and the finalizer bug did. */
async function deleteLeavingTasks(ns: string, name: string): Promise<StoredObject> {
  const obj = (await cp.store.get(ISVC, ns, name))!;
  await cp.store.applyBatch([{ type: "delete", kind: ISVC, object: obj }]);
  return obj;
}

describe("tasks that outlive their workload", () => {
  it("a workload with a foreign finalizer: removing the finalizer deletes its tasks with it; re-created under its name, it runs, and another tenant is scheduled meanwhile", async () => {
    await cp.apply("/namespaces/acme/inferenceservices", { ...isvc("cam", "cam"), metadata: { name: "cam", finalizers: ["example.com/hold"] } });
    await waitFor(() => running("acme", "cam"), "acme/cam Running");
    const first = await workload("acme", "cam");
    const before = await tasksNamed("acme", "cam");
    expect(before.length).toBeGreaterThan(0);

    await request(cp.api.app).delete(path("acme", "cam")).set(admin()).expect(200);
    // Marked for deletion, the owner still exists: its tasks stay (Kubernetes' background deletion).
    expect((await workload("acme", "cam")).metadata.deletionTimestamp).toBeTruthy();
    expect(await tasksNamed("acme", "cam")).toEqual(before);
    await removeFinalizers("acme", "cam");
    // Gone with its owner, in the same write: no leftover to collect.
    expect(await tasksNamed("acme", "cam")).toEqual([]);

    await cp.apply("/namespaces/beta/inferenceservices", isvc("door", "door"));
    await cp.apply("/namespaces/acme/inferenceservices", isvc("cam", "cam"));
    await waitFor(async () => (await running("acme", "cam")) && (await running("beta", "door")), "the re-created acme/cam and beta/door Running");
    const again = await workload("acme", "cam");
    expect(again.metadata.uid).not.toBe(first.metadata.uid);
    expect((await tasksNamed("acme", "cam")).every((t) => t.owner === again.metadata.uid)).toBe(true);
    expect(cycleFailures()).toEqual([]);
    expect(collected()).toEqual([]);
  });

  it("the garbage collector deletes tasks whose owner is gone, keeps those whose owner exists (marked for deletion or not) and those with no owner", async () => {
    for (const name of ["old", "live"]) await cp.apply("/namespaces/acme/inferenceservices", isvc(name, "cam"));
    await cp.apply("/namespaces/acme/inferenceservices", { ...isvc("held", "cam"), metadata: { name: "held", finalizers: ["example.com/hold"] } });
    await waitFor(async () => (await running("acme", "old")) && (await running("acme", "live")) && (await running("acme", "held")), "old, live and held Running");
    const live = await workload("acme", "live");
    const liveTasks = await tasksNamed("acme", "live");
    // A task naming the live workload's name with another uid: an earlier workload of that name.
    const ghost = await cp.store.create(TASK, {
      apiVersion: V,
      metadata: {
        name: "live-earlier",
        namespace: "acme",
        ownerReferences: [{ apiVersion: V, kind: "InferenceService", name: "live", uid: "00000000-0000-4000-8000-00000000e001", controller: true }],
      },
      spec: { nodeName: "dev-1", role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } },
      status: { phase: "Running", attempt: 1 },
    } as any);
    const byHand = await cp.store.create(TASK, {
      apiVersion: V,
      metadata: { name: "by-hand", namespace: "acme" },
      spec: { nodeName: "dev-1", role: "serve" },
      status: { phase: "Running", attempt: 1 },
    } as any);
    // The old workload goes without its tasks, as the finalizer bug left them.
    const old = await deleteLeavingTasks("acme", "old");
    const leftovers = await tasksNamed("acme", "old");
    expect(leftovers.length).toBeGreaterThan(0);
    await request(cp.api.app).delete(path("acme", "held")).set(admin()).expect(200);

    await waitFor(async () => (await tasksNamed("acme", "old")).length === 0 && !(await cp.store.get(TASK, "acme", "live-earlier")), "the leftovers collected");
    const lines = collected();
    expect(lines.map((l) => [l.namespace, l.owner.name, l.owner.uid, [...l.tasks].sort()]).sort()).toEqual(
      [
        ["acme", "live", "00000000-0000-4000-8000-00000000e001", [ghost.metadata.name]],
        ["acme", "old", old.metadata.uid, leftovers.map((t) => t.name).sort()],
      ].sort(),
    );
    // An existing owner keeps its tasks: the live one of the same name, the one marked for
    // deletion (until its finalizer goes, then they go with it); a task with no owner is kept —
    // also by a full pass over every task (what a collector does first, at start).
    expect(await new GarbageCollector({ pool: cp.db.pool, store: cp.store, logger: cp.schedulerLog.logger }).collect(cp.scheduler!.workloads.cache, Date.now())).toBe(0);
    expect(await tasksNamed("acme", "live")).toEqual(liveTasks);
    expect((await workload("acme", "live")).metadata.uid).toBe(live.metadata.uid);
    expect((await tasksNamed("acme", "held")).length).toBeGreaterThan(0);
    expect(await cp.store.get(TASK, "acme", "by-hand")).toMatchObject({ metadata: { uid: byHand.metadata.uid } });
    await removeFinalizers("acme", "held");
    expect(await tasksNamed("acme", "held")).toEqual([]);
    await cp.store.applyBatch([{ type: "delete", kind: TASK, object: (await cp.store.get(TASK, "acme", "by-hand"))! }]);
    expect(cycleFailures()).toEqual([]);
  });
});

describe("task names are the workload's own", () => {
  it("two workloads whose names differ only past 200 characters both run (their task names clashed)", async () => {
    const prefix = "a".repeat(200);
    await cp.apply("/namespaces/acme/inferenceservices", isvc(`${prefix}-one`, "door"));
    await waitFor(() => running("acme", `${prefix}-one`), "the first twin Running");
    await cp.apply("/namespaces/acme/inferenceservices", isvc(`${prefix}-two`, "door"));
    await cp.apply("/namespaces/beta/inferenceservices", isvc("after-twins", "door"));
    await waitFor(async () => (await running("acme", `${prefix}-two`)) && (await running("beta", "after-twins")), "the second twin and beta/after-twins Running");
    const one = await tasksNamed("acme", `${prefix}-one`);
    const two = await tasksNamed("acme", `${prefix}-two`);
    expect(one.length).toBeGreaterThan(0);
    expect(two.length).toBe(one.length);
    for (const t of [...one, ...two]) expect(t.name.startsWith(`${prefix}-r1-`)).toBe(true);
    expect(cycleFailures()).toEqual([]);
    for (const n of ["one", "two"])
      await request(cp.api.app)
        .delete(path("acme", `${prefix}-${n}`))
        .set(admin())
        .expect(200);
  });

  it("a workload re-created while the previous one's tasks are still being removed is bound beside them", async () => {
    await cp.apply("/namespaces/beta/inferenceservices", isvc("again", "door"));
    await waitFor(() => running("beta", "again"), "beta/again Running");
    // From here the test drives the cycles itself (the scheduler's own loop stopped), so that one
    // cycle sees what the namespace cleanup leaves between its pages: the workload deleted, its
    // tasks not yet, and the same name created again — before any collector's pass.
    await cp.scheduler!.stop();
    const workloads = cp.scheduler!.workloads;
    const previous = await deleteLeavingTasks("beta", "again");
    const leftovers = (await tasksNamed("beta", "again")).filter((t) => t.owner === previous.metadata.uid);
    expect(leftovers.length).toBeGreaterThan(0);
    await cp.apply("/namespaces/beta/inferenceservices", isvc("again", "door"));
    const stats = await workloads.cycle();
    expect({ planned: stats.planned, failed: stats.failed, bound: stats.bound > 0 }).toEqual({ planned: 1, failed: 0, bound: true });
    await waitFor(async () => {
      await workloads.cycle();
      return running("beta", "again");
    }, "the re-created beta/again Running beside its predecessor's tasks");
    const now = await workload("beta", "again");
    const rows = await tasksNamed("beta", "again");
    expect(rows.filter((t) => t.owner === previous.metadata.uid)).toEqual(leftovers);
    expect(rows.filter((t) => t.owner === now.metadata.uid).length).toBeGreaterThan(0);
    // The collector's next pass removes the predecessor's tasks, and only those.
    expect(await cp.scheduler!.gc.collect(workloads.cache, Date.now())).toBe(leftovers.length);
    expect((await tasksNamed("beta", "again")).map((t) => t.owner)).toEqual(rows.filter((t) => t.owner === now.metadata.uid).map((t) => t.owner));
  });
});
