// Progress-only status changes (a task count in the Ready message) are written at most once per
// progress period per workload, counted from the last status write (the bind's included); one
// held back is written when due even if nothing else changes; a phase change goes out at once.
import { describe, expect, it } from "vitest";
import { edgeNodeSpec, inferenceServiceSpec, kindInfo, modelSpec } from "@eiaas/api";
import { EventRecorder, type StoredObject } from "@eiaas/db";
import { createLogger } from "@eiaas/telemetry";
import { cloudSpec, deviceSpec, edgeSpec, MODEL, useTestStore, V } from "@eiaas/testing";
import { WorkloadController } from "./workloads.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const MODEL_KIND = kindInfo("Model");
const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");

const fx = useTestStore();

const ready = (o: StoredObject | null) => o?.status?.conditions?.find((c: any) => c.type === "Ready")?.message;

describe("progress-only status writes", () => {
  it("are held back within the period, written when due, and never delay a phase change", async () => {
    await fx.store.create(TENANT, { apiVersion: V, metadata: { name: "acme" }, spec: {} } as any);
    await fx.store.create(MODEL_KIND, { ...MODEL, metadata: { name: "m", namespace: "acme" }, spec: modelSpec.parse(MODEL.spec) } as any);
    const node = (name: string, spec: unknown, labels: Record<string, string> = {}) =>
      fx.store.create(NODE, { apiVersion: V, metadata: { name, labels }, spec: edgeNodeSpec.parse(spec), status: { phase: "Ready" } } as any);
    await node("cloud-1", cloudSpec());
    await node("edge-1", edgeSpec("cloud-1"));
    for (const d of ["dev-1", "dev-2", "dev-3"]) await node(d, deviceSpec("edge-1"), { client: "cam" });
    // Everything on the devices: one task per client device.
    const spec = inferenceServiceSpec.parse({
      model: "m",
      clients: { selector: { matchLabels: { client: "cam" } }, requestsPerSecond: 1 },
      resources: { cpu: 100, memoryMiB: 64 },
      architecture: "device",
    });
    await fx.store.create(ISVC, { apiVersion: V, metadata: { name: "cam", namespace: "acme" }, spec } as any);

    const controller = new WorkloadController(
      { pool: fx.db.pool, store: fx.store, events: new EventRecorder(fx.store, "test"), logger: createLogger({ name: "test", level: "silent" }) },
      { progressMs: 1_000 },
    );
    const t0 = Date.parse("2026-11-26T12:00:00Z");
    const at = (ms: number) => new Date(t0 + ms);
    expect((await controller.cycle(at(0))).bound).toBe(3);
    const get = () => fx.store.get(ISVC, "acme", "cam");
    expect(ready(await get())).toBe("0/3 tasks of plan revision 1 running");

    const tasks = (await fx.store.list(TASK, {})).items;
    const run = async (t: StoredObject) => {
      const cur = (await fx.store.get(TASK, "acme", t.metadata.name))!;
      await fx.store.updateStatus(TASK, cur, { ...cur.status, phase: "Running" });
    };
    await run(tasks[0]!);
    await controller.cycle(at(100));
    expect(ready(await get())).toBe("0/3 tasks of plan revision 1 running"); // held back: the bind wrote at 0
    await run(tasks[1]!);
    await controller.cycle(at(200));
    expect(ready(await get())).toBe("0/3 tasks of plan revision 1 running"); // held back
    await controller.cycle(at(700));
    expect(ready(await get())).toBe("0/3 tasks of plan revision 1 running"); // still not due
    await controller.cycle(at(1_100)); // due, though nothing changed since
    expect(ready(await get())).toBe("2/3 tasks of plan revision 1 running");
    await run(tasks[2]!);
    await controller.cycle(at(1_200)); // a phase change: at once, though the last write was 100 ms ago
    const done = await get();
    expect(done?.status?.phase).toBe("Running");
    expect(ready(done)).toBe("3/3 tasks of plan revision 1 running");
    await controller.events.drain();
  });
});

describe("Ready transitions", () => {
  it("go out at once whatever the progress period, and the phase never says Running while Ready is False", async () => {
    await fx.store.create(TENANT, { apiVersion: V, metadata: { name: "acme" }, spec: {} } as any);
    await fx.store.create(MODEL_KIND, { ...MODEL, metadata: { name: "m", namespace: "acme" }, spec: modelSpec.parse(MODEL.spec) } as any);
    const node = (name: string, spec: unknown, labels: Record<string, string> = {}) =>
      fx.store.create(NODE, { apiVersion: V, metadata: { name, labels }, spec: edgeNodeSpec.parse(spec), status: { phase: "Ready" } } as any);
    await node("cloud-1", cloudSpec());
    await node("edge-1", edgeSpec("cloud-1"));
    for (const d of ["dev-1", "dev-2"]) await node(d, deviceSpec("edge-1"), { client: "cam" });
    const spec = inferenceServiceSpec.parse({
      model: "m",
      clients: { selector: { matchLabels: { client: "cam" } }, requestsPerSecond: 1 },
      resources: { cpu: 100, memoryMiB: 64 },
      architecture: "device",
    });
    await fx.store.create(ISVC, { apiVersion: V, metadata: { name: "cam", namespace: "acme" }, spec } as any);

    // A long progress period: only a transition that is not held back shows within it.
    const controller = new WorkloadController(
      { pool: fx.db.pool, store: fx.store, events: new EventRecorder(fx.store, "test"), logger: createLogger({ name: "test", level: "silent" }) },
      { progressMs: 60_000 },
    );
    const t0 = Date.parse("2026-11-26T12:00:00Z");
    const at = (ms: number) => new Date(t0 + ms);
    const get = async () => (await fx.store.get(ISVC, "acme", "cam"))!;
    const readyOf = (o: StoredObject) => o.status?.conditions?.find((c: any) => c.type === "Ready")?.status;
    const setPhase = async (name: string, phase: string, reason?: string) => {
      const cur = (await fx.store.get(TASK, "acme", name))!;
      await fx.store.updateStatus(TASK, cur, { ...cur.status, phase, ...(reason ? { reason } : {}) });
    };
    const tasks = async () => (await fx.store.list(TASK, {})).items;

    expect((await controller.cycle(at(0))).bound).toBeGreaterThan(0);
    // One task per client device.
    const first = await tasks();
    expect(first).toHaveLength(2);
    for (const t of first) await setPhase(t.metadata.name, "Running");
    await controller.cycle(at(100));
    expect({ phase: (await get()).status?.phase, ready: readyOf(await get()) }).toEqual({ phase: "Running", ready: "True" });

    // One task's node is lost: the service is re-planned at once, not Ready — and not Running.
    const lost = first[0]!;
    await setPhase(lost.metadata.name, "Failed", "NodeLost");
    await controller.cycle(at(200));
    const replanned = await get();
    expect(replanned.status?.planRevision).toBe(2);
    expect({ phase: replanned.status?.phase, ready: readyOf(replanned) }).toEqual({ phase: "Scheduled", ready: "False" });

    // Its replacements run, 100 ms after the last write: Ready again at once, and Running.
    for (const t of (await tasks()).filter((t) => t.metadata.labels?.["eiaas.io/plan-revision"] === "2")) await setPhase(t.metadata.name, "Running");
    await controller.cycle(at(300));
    const back = await get();
    expect({ phase: back.status?.phase, ready: readyOf(back) }).toEqual({ phase: "Running", ready: "True" });
    await controller.events.drain();
  });
});
