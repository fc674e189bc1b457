// The scheduler against real Postgres and Redis: API → plan → bind → BullMQ dispatch → agents
// (protocol-level: queue consumers reporting through the API, as apps/agent does) → workload status.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { cloudSpec, deviceSpec, edgeSpec, MODEL, startControlPlane, V, type ControlPlane } from "@eiaas/testing/control-plane";

let cp: ControlPlane;
let api: ControlPlane["api"];
const admin = () => cp.admin();
const apply = (path: string, obj: object) => cp.apply(path, obj);

beforeAll(async () => {
  cp = await startControlPlane({ deferSchedulerStart: true });
  api = cp.api;
  await apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.startProtocolAgent("cloud-1", cloudSpec());
  await cp.startProtocolAgent("edge-1", edgeSpec("cloud-1"));
  for (const d of ["dev-1", "dev-2"]) await cp.startProtocolAgent(d, deviceSpec("edge-1"), { tier: "device", data: "yes" });
  await apply("/namespaces/acme/models", { ...MODEL, spec: { ...MODEL.spec, capabilities: ["classify"] } });
  cp.scheduler!.start();
});

afterAll(() => cp.close());

const get = (path: string) => cp.get(path);

describe("scheduler end to end", () => {
  it("places an InferenceService, dispatches its tasks to the planned nodes and reports it Running", async () => {
    await apply("/namespaces/acme/inferenceservices", {
      apiVersion: V,
      kind: "InferenceService",
      metadata: { name: "cam" },
      spec: { model: "m", clients: { selector: { matchLabels: { tier: "device" } }, requestsPerSecond: 1 }, resources: { cpu: 100, memoryMiB: 64 } },
    });
    await expect.poll(async () => (await get("/namespaces/acme/inferenceservices/cam")).status.phase, { timeout: 15_000 }).toBe("Running");
    const svc = await get("/namespaces/acme/inferenceservices/cam");
    expect(svc.status.plan.clients.map((c: any) => c.client)).toEqual(["dev-1", "dev-2"]);
    expect(svc.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: "Scheduled", status: "True" }), expect.objectContaining({ type: "Ready", status: "True" })]));
    const tasks = (await get("/namespaces/acme/tasks")).items;
    expect(tasks.length).toBeGreaterThan(0);
    for (const t of tasks) expect(t.status.phase).toBe("Running");
    // Every planned node runs its task: tails/serves where the plan says, heads on clients.
    const planned = new Set(svc.status.plan.clients.flatMap((c: any) => [c.headNode, c.tailNode].filter(Boolean)));
    expect(new Set(tasks.map((t: any) => t.spec.nodeName))).toEqual(planned);
    // Each task names its Model: the agent fetches that Model's artifact and cuts its layers.
    for (const t of tasks) expect(t.spec.env.EIAAS_MODEL).toBe("m");
    expect(svc.status.endpoints.length).toBeGreaterThan(0);
    // Level-triggered but quiet: cycles that change nothing write nothing.
    await cp.scheduler!.kick();
    await cp.scheduler!.kick();
    const rv = (await get("/namespaces/acme/inferenceservices/cam")).metadata.resourceVersion;
    await cp.scheduler!.kick();
    await cp.scheduler!.kick();
    expect((await get("/namespaces/acme/inferenceservices/cam")).metadata.resourceVersion).toBe(rv);
  });

  it("ranks a service's endpoints by predicted latency from the asking client; discovery by capability; dryRun plans", async () => {
    const eps = (await request(api.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices/cam/endpoints`).query({ client: "dev-1" }).set(admin()).expect(200)).body;
    expect(eps.kind).toBe("EndpointList");
    expect(eps.items.length).toBeGreaterThan(0);
    const latencies = eps.items.map((e: any) => e.predicted.latencyMs);
    expect([...latencies].sort((a, b) => a - b)).toEqual(latencies);
    for (const e of eps.items) expect(e).toMatchObject({ node: expect.any(String), role: expect.stringMatching(e.entry ? /serve|head/ : /serve|tail/), task: expect.stringMatching(/^cam-r\d+-/) });
    // The endpoint that serves dev-1 in the plan is priced at the plan's prediction.
    const plan = (await get("/namespaces/acme/inferenceservices/cam")).status.plan.clients.find((c: any) => c.client === "dev-1");
    // dev-1's own entry point is marked: its head when its plan splits there, else its server.
    const entries = eps.items.filter((e: any) => e.entry);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject(plan.headNode ? { node: plan.headNode } : { node: plan.tailNode, role: "serve" });
    if (plan.tailNode) expect(eps.items.find((e: any) => e.node === plan.tailNode).predicted.latencyMs).toBeCloseTo(plan.predicted.latencyMs, 3);
    await request(api.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices/cam/endpoints`).query({ client: "nobody" }).set(admin()).expect(404);
    const found = (await request(api.app).get(`${API_PREFIX}/namespaces/acme/discovery`).query({ capability: "classify", client: "dev-2" }).set(admin()).expect(200)).body;
    expect(found.items.map((e: any) => e.service)).toEqual(expect.arrayContaining(["cam"]));
    const none = (await request(api.app).get(`${API_PREFIX}/namespaces/acme/discovery`).query({ capability: "translate", client: "dev-2" }).set(admin()).expect(200)).body;
    expect(none.items).toEqual([]);
    // Another tenant sees nothing of it.
    await apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "other" } });
    const otherToken = await api.tenantToken("other");
    await request(api.app)
      .get(`${API_PREFIX}/namespaces/acme/inferenceservices/cam/endpoints`)
      .query({ client: "dev-1" })
      .set({ Authorization: `Bearer ${otherToken}` })
      .expect(404);
    // dryRun with planPreview returns the plan the scheduler would make and stores nothing.
    const dry = await request(api.app)
      .post(`${API_PREFIX}/namespaces/acme/inferenceservices`)
      .query({ dryRun: "All", planPreview: "true" })
      .set(admin())
      .send({ apiVersion: V, kind: "InferenceService", metadata: { name: "what-if" }, spec: { model: "m", clients: { selector: { matchLabels: { tier: "device" } } } } })
      .expect(201);
    expect(dry.body.status.phase).toBe("Scheduled");
    expect(dry.body.status.plan.clients.map((c: any) => c.client)).toEqual(["dev-1", "dev-2"]);
    await request(api.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices/what-if`).set(admin()).expect(404);
  });

  it("rolls a spec change over: new tasks run before the old ones are removed", async () => {
    const before = (await get("/namespaces/acme/tasks")).items.map((t: any) => t.metadata.name);
    await request(api.app)
      .patch(`${API_PREFIX}/namespaces/acme/inferenceservices/cam`)
      .set(admin())
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ spec: { resources: { cpu: 200, memoryMiB: 64 } } }))
      .expect(200);
    await expect
      .poll(
        async () => {
          const names = (await get("/namespaces/acme/tasks")).items.map((t: any) => t.metadata.name);
          return names.length > 0 && names.every((n: string) => !before.includes(n));
        },
        { timeout: 15_000 },
      )
      .toBe(true);
    const svc = await get("/namespaces/acme/inferenceservices/cam");
    expect(svc.status.phase).toBe("Running");
    expect(svc.status.observedGeneration).toBe(svc.metadata.generation);
  });

  it("runs a federated TrainingJob to completion", async () => {
    await apply("/namespaces/acme/trainingjobs", {
      apiVersion: V,
      kind: "TrainingJob",
      metadata: { name: "fl" },
      spec: {
        model: "m",
        mode: "federated",
        data: { selector: { matchLabels: { data: "yes" } } },
        participants: { min: 2 },
        rounds: 2,
        aggregation: { localSteps: 2, estimates: { localStepSeconds: 0.1, aggregationSeconds: 0.1 } },
      },
    });
    await expect.poll(async () => (await get("/namespaces/acme/trainingjobs/fl")).status.phase, { timeout: 20_000 }).toBe("Succeeded");
    const tj = await get("/namespaces/acme/trainingjobs/fl");
    expect(tj.status.plan.participants.sort()).toEqual(["dev-1", "dev-2"]);
    expect(tj.status.plan.aggregator).toBeTruthy();
    expect(tj.status.conditions).toContainEqual(expect.objectContaining({ type: "Complete", status: "True" }));
  });

  it("a lowered measured bandwidth re-plans a client to a different split", async () => {
    const before = (await get("/namespaces/acme/inferenceservices/cam")).status.plan.clients.find((c: any) => c.client === "dev-1");
    expect(before.split).toBeLessThan(5);
    // dev-1's agent now measures a nearly dead uplink: offloading anything costs seconds.
    await cp.protocolAgents.get("dev-1")!.heartbeat({ uplinkMbps: 0.2, rttMs: 2 });
    await expect.poll(async () => (await get("/namespaces/acme/inferenceservices/cam")).status.plan.clients.find((c: any) => c.client === "dev-1").split, { timeout: 15_000 }).not.toBe(before.split);
    const after = (await get("/namespaces/acme/inferenceservices/cam")).status.plan.clients.find((c: any) => c.client === "dev-1");
    expect(after.predicted.uplinkBytes).toBeLessThan(before.predicted.uplinkBytes);
    await expect.poll(async () => (await get("/namespaces/acme/inferenceservices/cam")).status.phase, { timeout: 15_000 }).toBe("Running");
  });

  it("evicting a task of a cordoned node moves it elsewhere (drain)", async () => {
    const svc = await get("/namespaces/acme/inferenceservices/cam");
    const tail = svc.status.plan.clients.map((c: any) => c.tailNode).find(Boolean);
    expect(tail).toBeTruthy();
    await request(api.app)
      .patch(`${API_PREFIX}/edgenodes/${tail}`)
      .set(admin())
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ spec: { unschedulable: true } }))
      .expect(200);
    const onNode = (await get(`/namespaces/acme/tasks?fieldSelector=spec.nodeName%3D${tail}`)).items.filter((t: any) => t.status.phase !== "Failed");
    expect(onNode.length).toBeGreaterThan(0);
    for (const t of onNode) {
      // A superseded revision's task may be deleted by a roll-over meanwhile: gone is fine too.
      const r = await request(api.app).post(`${API_PREFIX}/namespaces/acme/tasks/${t.metadata.name}/eviction`).set(admin()).send({});
      expect([201, 404]).toContain(r.status);
    }
    const tenant = await api.tenantToken("acme");
    await request(api.app)
      .post(`${API_PREFIX}/namespaces/acme/tasks/${onNode[0].metadata.name}/eviction`)
      .set({ Authorization: `Bearer ${tenant}` })
      .send({})
      .expect(403);
    await expect
      .poll(
        async () => {
          const s = await get("/namespaces/acme/inferenceservices/cam");
          if (s.status.phase !== "Running" || s.status.plan.clients.some((c: any) => c.tailNode === tail || c.headNode === tail)) return false;
          // ... and the roll-over is over: only the new revision's tasks are left.
          const tasks = (await get("/namespaces/acme/tasks")).items.filter((t: any) => t.metadata.labels["eiaas.io/workload"] === "cam");
          return tasks.every((t: any) => t.metadata.labels["eiaas.io/plan-revision"] === String(s.status.planRevision));
        },
        { timeout: 15_000 },
      )
      .toBe(true);
    await request(api.app)
      .patch(`${API_PREFIX}/edgenodes/${tail}`)
      .set(admin())
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ spec: { unschedulable: false } }))
      .expect(200);
  });

  it("deleting the service stops and deletes its tasks", async () => {
    await request(api.app).delete(`${API_PREFIX}/namespaces/acme/inferenceservices/cam`).set(admin()).expect(200);
    const left = (await get("/namespaces/acme/tasks")).items.filter((t: any) => t.metadata.labels["eiaas.io/workload"] === "cam");
    expect(left).toEqual([]);
  });
});
