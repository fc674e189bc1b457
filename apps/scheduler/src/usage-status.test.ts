// Node allocation and tenant usage are published behind the cycles, a bounded number of rows per
// step, and add up to the tasks bound — on more nodes than one step writes.
import { describe, expect, it } from "vitest";
import { edgeNodeSpec, inferenceServiceSpec, kindInfo, modelSpec } from "@eiaas/api";
import { EventRecorder } from "@eiaas/db";
import { createLogger } from "@eiaas/telemetry";
import { cloudSpec, deviceSpec, edgeSpec, MODEL, useTestStore, V } from "@eiaas/testing";
import { WorkloadController } from "./workloads.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const MODEL_KIND = kindInfo("Model");
const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");

const fx = useTestStore();

describe("usage publishing", () => {
  it("writes every changed node's allocation and the tenant's usage, at most 50 rows a step", async () => {
    await fx.store.create(TENANT, { apiVersion: V, metadata: { name: "acme" }, spec: {} } as any);
    await fx.store.create(MODEL_KIND, { ...MODEL, metadata: { name: "m", namespace: "acme" }, spec: modelSpec.parse(MODEL.spec) } as any);
    const node = (name: string, spec: unknown, labels: Record<string, string> = {}) => ({
      type: "create" as const,
      kind: NODE,
      object: fx.store.prepareCreate(NODE, { apiVersion: V, metadata: { name, labels }, spec: edgeNodeSpec.parse(spec), status: { phase: "Ready" } } as any),
    });
    // 300 client devices (more than one 250-row statement), each serving its own task.
    await fx.store.applyBatch([node("cloud-1", cloudSpec()), node("edge-1", edgeSpec("cloud-1"))]);
    const devices = Array.from({ length: 300 }, (_, i) => `dev-${i}`);
    await fx.store.applyBatch(devices.map((d) => node(d, deviceSpec("edge-1"), { client: "cam" })));
    const spec = inferenceServiceSpec.parse({
      model: "m",
      clients: { selector: { matchLabels: { client: "cam" } }, requestsPerSecond: 1 },
      resources: { cpu: 100, memoryMiB: 64 },
      architecture: "device",
    });
    await fx.store.create(ISVC, { apiVersion: V, metadata: { name: "cam", namespace: "acme" }, spec } as any);

    const controller = new WorkloadController({ pool: fx.db.pool, store: fx.store, events: new EventRecorder(fx.store, "test"), logger: createLogger({ name: "test", level: "silent" }) });
    const t0 = Date.now();
    expect((await controller.cycle(new Date(t0))).bound).toBe(300);
    await controller.usageWritten();
    // The bound tasks come back through the log; the steps after that publish them, 50 rows each.
    const countPublished = async () => (await fx.store.list(NODE, {})).items.filter((n) => (n.status?.allocated?.cpu ?? 0) > 0).length;
    const counts: number[] = [];
    for (let step = 1; step <= 10; step++) {
      await controller.cycle(new Date(t0 + step * 1_100));
      await controller.usageWritten();
      counts.push(await countPublished());
    }
    // The tenant's row and 49 nodes, then 50 nodes a step, until all 300 are written.
    expect(counts).toEqual([49, 99, 149, 199, 249, 299, 300, 300, 300, 300]);
    const tasks = (await fx.store.list(TASK, {})).items;
    const onNode = new Map<string, number>();
    for (const t of tasks) onNode.set(t.spec.nodeName, (onNode.get(t.spec.nodeName) ?? 0) + t.spec.resources.cpu);
    const nodes = (await fx.store.list(NODE, {})).items;
    const published = nodes.filter((n) => n.status?.allocated).map((n) => [n.metadata.name, n.status!.allocated.cpu]);
    expect(Object.fromEntries(published.filter(([, cpu]) => cpu > 0))).toEqual(Object.fromEntries(onNode));
    expect(onNode.size).toBeGreaterThan(250);
    const tenant = await fx.store.get(TENANT, undefined, "acme");
    expect(tenant?.status?.usage).toMatchObject({ cpu: 100 * tasks.length, tasks: tasks.length });
  });
});
