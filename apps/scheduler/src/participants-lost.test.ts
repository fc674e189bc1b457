// A federated TrainingJob whose participants' nodes are lost is re-planned with the data nodes that
// remain (or return), keeping its rounds; with fewer than participants.min placeable it waits —
// Scheduled=False/ParticipantsLost, not Failed — and fails only once that lasted
// spec.participants.lostDeadlineSeconds, its unfinished tasks then stopped. The workload controller
// on a real Postgres, its cycles run at chosen times.
import { describe, expect, it } from "vitest";
import { edgeNodeSpec, kindInfo, modelSpec, trainingJobSpec } from "@eiaas/api";
import { EventRecorder, type StoredObject } from "@eiaas/db";
import { createLogger } from "@eiaas/telemetry";
import { cloudSpec, deviceSpec, edgeSpec, MODEL, useTestStore, V } from "@eiaas/testing";
import { WorkloadController } from "./workloads.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const MODEL_KIND = kindInfo("Model");
const TJ = kindInfo("TrainingJob");
const TASK = kindInfo("Task");

const fx = useTestStore();
const t0 = Date.parse("2026-11-26T12:00:00Z");
const at = (ms: number) => new Date(t0 + ms);
const DATA = ["dev-1", "dev-2", "dev-3"];

async function setup(participants: { min: number; lostDeadlineSeconds?: number }): Promise<WorkloadController> {
  await fx.store.create(TENANT, { apiVersion: V, metadata: { name: "acme" }, spec: {} } as any);
  await fx.store.create(MODEL_KIND, { ...MODEL, metadata: { name: "m", namespace: "acme" }, spec: modelSpec.parse(MODEL.spec) } as any);
  const node = (name: string, spec: unknown, labels: Record<string, string> = {}) =>
    fx.store.create(NODE, { apiVersion: V, metadata: { name, labels }, spec: edgeNodeSpec.parse(spec), status: { phase: "Ready" } } as any);
  await node("cloud-1", cloudSpec());
  await node("edge-1", edgeSpec("cloud-1"));
  for (const d of DATA) await node(d, deviceSpec("edge-1"), { data: "yes" });
  const spec = trainingJobSpec.parse({ model: "m", mode: "federated", data: { selector: { matchLabels: { data: "yes" } } }, participants, rounds: 5, resources: { cpu: 100, memoryMiB: 64 } });
  await fx.store.create(TJ, { apiVersion: V, metadata: { name: "fl", namespace: "acme" }, spec } as any);
  return new WorkloadController({ pool: fx.db.pool, store: fx.store, events: new EventRecorder(fx.store, "test"), logger: createLogger({ name: "test", level: "silent" }) });
}

const job = async () => (await fx.store.get(TJ, "acme", "fl"))!;
const tasks = async () => (await fx.store.list(TASK, { namespace: "acme" })).items;
const condition = (o: StoredObject, type: string) => o.status?.conditions?.find((c: any) => c.type === type);
async function setTask(t: StoredObject, status: Record<string, unknown>): Promise<void> {
  const cur = (await fx.store.get(TASK, "acme", t.metadata.name))!;
  await fx.store.updateStatus(TASK, cur, { ...cur.status, ...status });
}
/** What the node lifecycle controller does to a node that stopped heartbeating, and to its tasks. */
async function loseNode(name: string): Promise<void> {
  const n = (await fx.store.get(NODE, undefined, name))!;
  await fx.store.updateStatus(NODE, n, { ...n.status, phase: "NotReady" });
  for (const t of await tasks()) if (t.spec.nodeName === name && t.status?.phase !== "Failed") await setTask(t, { phase: "Failed", reason: "NodeLost" });
}
async function returnNode(name: string): Promise<void> {
  const n = (await fx.store.get(NODE, undefined, name))!;
  await fx.store.updateStatus(NODE, n, { ...n.status, phase: "Ready" });
}
/** Binds, runs every task, and records some progress (as the job's status would carry it). */
async function startRunning(controller: WorkloadController): Promise<void> {
  expect((await controller.cycle(at(0))).bound).toBe(4); // 3 participants and an aggregator
  for (const t of await tasks()) await setTask(t, { phase: "Running" });
  await controller.cycle(at(100));
  const j = await job();
  expect(j.status?.phase).toBe("Running");
  await fx.store.updateStatus(TJ, j, { ...j.status, round: 2 });
}

describe("a TrainingJob that loses participants", () => {
  it("is re-planned with the data nodes that remain, keeping its rounds", async () => {
    const controller = await setup({ min: 2 });
    await startRunning(controller);
    await loseNode("dev-3");
    await controller.cycle(at(1_000));
    const j = await job();
    expect(j.status).toMatchObject({ planRevision: 2, round: 2 });
    expect(j.status?.plan.participants.sort()).toEqual(["dev-1", "dev-2"]);
    expect(condition(j, "Scheduled")).toMatchObject({ status: "True" });
    expect(j.status?.phase).not.toBe("Failed");
    await controller.events.drain();
  });

  it("waits for them below participants.min, is placed again when they return, and fails only past its deadline", async () => {
    const controller = await setup({ min: 3, lostDeadlineSeconds: 60 });
    await startRunning(controller);
    await loseNode("dev-3");
    await controller.cycle(at(1_000));
    let j = await job();
    expect(j.status?.phase).not.toBe("Failed");
    expect(condition(j, "Scheduled")).toMatchObject({ status: "False", reason: "ParticipantsLost" });
    expect(condition(j, "Scheduled").message).toMatch(/need at least 3 \(participants\.min\).*waiting for participants until 2026-11-26T12:01:01\.000Z/);
    const waitingSince = condition(j, "Scheduled").lastTransitionTime;

    // Looked at again (a relist, room elsewhere) before the deadline: still waiting, same deadline.
    controller.cache.invalidate();
    await controller.cycle(at(50_000));
    j = await job();
    expect(j.status?.phase).not.toBe("Failed");
    expect(condition(j, "Scheduled").lastTransitionTime).toBe(waitingSince);

    // The node comes back: placed again at once, on all three, keeping its rounds.
    await returnNode("dev-3");
    await controller.cycle(at(55_000));
    j = await job();
    expect(j.status).toMatchObject({ planRevision: 2, round: 2 });
    expect(j.status?.plan.participants.sort()).toEqual(DATA);
    expect(condition(j, "Scheduled")).toMatchObject({ status: "True" });
    await controller.events.drain();
  });

  it("fails with ParticipantsLost once fewer than participants.min were placeable for lostDeadlineSeconds, and its tasks stop", async () => {
    const controller = await setup({ min: 3, lostDeadlineSeconds: 60 });
    await startRunning(controller);
    await loseNode("dev-3");
    await controller.cycle(at(1_000));
    expect((await job()).status?.phase).not.toBe("Failed");
    // Nothing changes; its deadline alone brings it back to the controller.
    await controller.cycle(at(30_000));
    expect((await job()).status?.phase).not.toBe("Failed");
    await controller.cycle(at(61_000));
    const j = await job();
    expect(j.status?.phase).toBe("Failed");
    expect(condition(j, "Scheduled")).toMatchObject({ status: "False", reason: "ParticipantsLost" });
    expect(condition(j, "Complete")).toMatchObject({ status: "False", reason: "ParticipantsLost" });
    expect(condition(j, "Complete").message).toMatch(/fewer than participants\.min were placeable for 60s/);
    expect((await tasks()).filter((t) => t.status?.phase !== "Failed" && t.status?.phase !== "Succeeded")).toEqual([]);
    // Failed for good: a node returning does not revive it.
    await returnNode("dev-3");
    await controller.cycle(at(62_000));
    expect((await job()).status?.phase).toBe("Failed");
    await controller.events.drain();
  });
});
