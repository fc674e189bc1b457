// Measurements fed back into planning (issue 20 part 7): agents report what their serving tasks
// measured (segment timings → ModelProfiles), clients their end-to-end latency (→ the service's
// status.measured). Who may report what, the bounds, and what tenants see. Real API, real Postgres.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo, modelProfileName, SEGMENT_TIMING_REPORT_MAX } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const NODE = kindInfo("EdgeNode");
const MODEL = kindInfo("Model");
const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");
const PROFILE = kindInfo("ModelProfile");

let api: TestApi;
let agent1: string;
let agent2: string;
let tenant: string;
let rival: string;
let svc: StoredObject;
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const timings = (node: string, token: string, body: unknown) =>
  request(api.app)
    .post(`${API_PREFIX}/edgenodes/${node}/segment-timings`)
    .set(bearer(token))
    .send(body as object);
const latency = (token: string, body: unknown, ns = "acme", name = "svc") =>
  request(api.app)
    .post(`${API_PREFIX}/namespaces/${ns}/inferenceservices/${name}/latency`)
    .set(bearer(token))
    .send(body as object);
const timing = (o: Record<string, unknown> = {}) => ({ namespace: "acme", task: "svc-tail", fromLayer: 2, toLayer: 3, medianMs: 12.5, count: 40, ...o });

async function task(name: string, node: string, layers: { from: number; to: number }, ns = "acme", owner = svc): Promise<void> {
  await api.store.create(TASK, {
    apiVersion: API_VERSION,
    metadata: { name, namespace: ns, ownerReferences: [{ apiVersion: API_VERSION, kind: "InferenceService", name: owner.metadata.name, uid: owner.metadata.uid, controller: true }] },
    spec: { nodeName: node, role: "tail", layers, env: { EIAAS_VARIANT: "base", EIAAS_EXIT_AFTER_LAYER: "3" }, template: {}, resources: { cpu: 0, memoryMiB: 0, gpu: 0 } },
    status: { phase: "Running", attempt: 1 },
  } as any);
}

beforeAll(async () => {
  api = await startTestApi({ rateLimit: { qps: 1e9, burst: 1e9 } });
  for (const name of ["acme", "rival"]) {
    await request(api.app).post(`${API_PREFIX}/tenants`).set(bearer(api.adminToken)).send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name } }).expect(201);
  }
  for (const name of ["edge-1", "edge-2", "edge-3", "dev-1"]) {
    await api.store.create(NODE, { apiVersion: API_VERSION, metadata: { name }, spec: { tier: name.startsWith("dev") ? "device" : "edge" } } as any);
  }
  const layers = [1, 2, 3].map((i) => ({ name: `l${i}`, flops: 1e9, outputBytes: 1000, memoryMiB: 1 }));
  for (const ns of ["acme", "rival"]) {
    await api.store.create(MODEL, { apiVersion: API_VERSION, metadata: { name: "m", namespace: ns }, spec: { inputBytes: 1000, accuracy: 0.9, layers } } as any);
  }
  const created = await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "svc", namespace: "acme" }, spec: { model: "m", clients: { selector: {} } } } as any);
  svc = await api.store.updateStatus(ISVC, created, {
    phase: "Running",
    planRevision: 1,
    plan: {
      clients: [
        {
          client: "dev-1",
          architecture: "edge-device",
          split: 1,
          headNode: "dev-1",
          tailNode: "edge-1",
          variant: "base",
          exitAfterLayer: 3,
          predicted: { latencyMs: 100, deviceEnergyMj: 1, accuracy: 0.9, uplinkBytes: 1000 },
        },
      ],
    },
  });
  await task("svc-tail", "edge-1", { from: 2, to: 3 });
  await task("svc-head", "dev-1", { from: 1, to: 1 });
  const rivalSvc = await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "svc", namespace: "rival" }, spec: { model: "m", clients: { selector: {} } } } as any);
  await task("rival-tail", "edge-2", { from: 1, to: 3 }, "rival", rivalSvc);
  agent1 = (await api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
  agent2 = (await api.tokens.mint({ role: "agent", nodeName: "edge-2" })).token;
  tenant = await api.tenantToken("acme");
  rival = await api.tenantToken("rival");
});
afterAll(() => api.close());

describe("segment timings from agents", () => {
  it("an agent reports its own task's timings: one ModelProfile per (model, node), owned by the model, model and variant taken from the task", async () => {
    const res = await timings("edge-1", agent1, { timings: [timing()] }).expect(200);
    expect(res.body.profiles).toEqual({ written: 1, unchanged: 0, deferred: 0 });
    const p = await api.store.get(PROFILE, "acme", modelProfileName("m", "edge-1"));
    expect(p!.spec).toEqual({ model: "m", nodeName: "edge-1" });
    expect(p!.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Model", name: "m", controller: true });
    expect(p!.status.modelGeneration).toBe(1);
    expect(p!.status.segments).toEqual([expect.objectContaining({ variant: "base", exitAfterLayer: 3, fromLayer: 2, toLayer: 3, medianMs: 12.5, count: 40 })]);
    // Reported again at once: the profile was just written (bounded write rate), nothing is written.
    expect((await timings("edge-1", agent1, { timings: [timing({ medianMs: 50 })] }).expect(200)).body.profiles).toEqual({ written: 0, unchanged: 0, deferred: 1 });
  });

  it("a task of another node, or none at all, is refused alike (403, a cause per timing) and nothing is written", async () => {
    const before = await api.store.get(PROFILE, "rival", modelProfileName("m", "edge-1"));
    // edge-1's agent naming another tenant's task on edge-2, a task that does not exist, its own task.
    const res = await timings("edge-1", agent1, { timings: [timing({ namespace: "rival", task: "rival-tail", fromLayer: 1 }), timing({ task: "nope" }), timing()] }).expect(403);
    expect(res.body).toMatchObject({ kind: "Status", reason: "Forbidden", code: 403 });
    expect(res.body.details.causes.map((c: any) => c.field)).toEqual(["timings[0].task", "timings[1].task"]);
    expect(JSON.stringify(res.body)).not.toContain("edge-2");
    expect(await api.store.get(PROFILE, "rival", modelProfileName("m", "edge-1"))).toEqual(before);
  });

  it("an agent reports for its own node only; tenants and bootstrap tokens not at all", async () => {
    await timings("edge-1", agent2, { timings: [timing()] }).expect(403);
    await timings("edge-2", agent1, { timings: [timing({ namespace: "rival", task: "rival-tail", fromLayer: 1 })] }).expect(403);
    await timings("edge-1", tenant, { timings: [timing()] }).expect(403);
    const bootstrap = (await api.tokens.mint({ role: "bootstrap" })).token;
    await timings("edge-1", bootstrap, { timings: [timing()] }).expect(403);
  });

  it.each([
    ["a range outside the task's layers", { timings: [timing({ fromLayer: 1 })] }, "timings[0].fromLayer"],
    ["a reversed range", { timings: [timing({ fromLayer: 3, toLayer: 2 })] }, "timings[0].toLayer"],
    ["a negative time", { timings: [timing({ medianMs: -1 })] }, "timings[0].medianMs"],
    ["a time past ten minutes", { timings: [timing({ medianMs: 1e9 })] }, "timings[0].medianMs"],
    ["a fractional count", { timings: [timing({ count: 1.5 })] }, "timings[0].count"],
    ["no timings", { timings: [] }, "timings"],
    ["too many timings", { timings: Array.from({ length: SEGMENT_TIMING_REPORT_MAX + 1 }, () => timing()) }, "timings"],
    ["an unknown field (the model is the task's, not the agent's to say)", { timings: [timing({ model: "other" })] }, "timings[0].model"],
  ])("%s → 422 naming the field", async (_name, body, field) => {
    const res = await timings("edge-1", agent1, body).expect(422);
    expect(res.body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422 });
    expect(res.body.details.causes.map((c: any) => c.field)).toContain(field);
  });

  it("tenants read their own ModelProfiles and write none; another tenant sees nothing of them", async () => {
    const path = `${API_PREFIX}/namespaces/acme/modelprofiles`;
    const list = await request(api.app).get(path).set(bearer(tenant)).expect(200);
    expect(list.body.items.map((o: any) => o.metadata.name)).toEqual([modelProfileName("m", "edge-1")]);
    const name = modelProfileName("m", "edge-1");
    await request(api.app).get(`${path}/${name}`).set(bearer(rival)).expect(404);
    expect((await request(api.app).get(`${API_PREFIX}/namespaces/rival/modelprofiles`).set(bearer(rival)).expect(200)).body.items).toEqual([]);
    const forged = { apiVersion: API_VERSION, kind: "ModelProfile", metadata: { name: "forged" }, spec: { model: "m", nodeName: "edge-2" } };
    await request(api.app).post(path).set(bearer(tenant)).send(forged).expect(403);
    await request(api.app).delete(`${path}/${name}`).set(bearer(tenant)).expect(403);
    // Nor may an agent read or write them directly.
    await request(api.app).get(`${path}/${name}`).set(bearer(agent1)).expect(403);
  });

  it("a profile goes with its model", async () => {
    const m = await api.store.get(MODEL, "acme", "m");
    const profile = await api.store.get(PROFILE, "acme", modelProfileName("m", "edge-1"));
    expect(profile).not.toBeNull();
    await request(api.app).delete(`${API_PREFIX}/namespaces/acme/models/m`).set(bearer(api.adminToken)).expect(200);
    expect(await api.store.get(PROFILE, "acme", modelProfileName("m", "edge-1"))).toBeNull();
    await api.store.create(MODEL, { apiVersion: API_VERSION, metadata: { name: "m", namespace: "acme" }, spec: m!.spec } as any);
  });

  it("a profile goes with its node too: deleting an EdgeNode takes the ModelProfiles measured on it, and only those", async () => {
    await task("svc-edge3", "edge-3", { from: 2, to: 3 });
    const agent3 = (await api.tokens.mint({ role: "agent", nodeName: "edge-3" })).token;
    await timings("edge-3", agent3, { timings: [timing({ task: "svc-edge3" })] }).expect(200);
    await timings("edge-1", agent1, { timings: [timing()] }).expect(200);
    const onEdge3 = await api.store.get(PROFILE, "acme", modelProfileName("m", "edge-3"));
    const node3 = await api.store.get(NODE, undefined, "edge-3");
    expect(onEdge3!.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "Model", name: "m", controller: true }),
      expect.objectContaining({ kind: "EdgeNode", name: "edge-3", uid: node3!.metadata.uid }),
    ]);
    await request(api.app).delete(`${API_PREFIX}/edgenodes/edge-3`).set(bearer(api.adminToken)).expect(200);
    expect(await api.store.get(PROFILE, "acme", modelProfileName("m", "edge-3"))).toBeNull();
    expect(await api.store.get(PROFILE, "acme", modelProfileName("m", "edge-1"))).not.toBeNull();
  });

  it("a profile written before profiles named their node gets the node as an owner at its next report", async () => {
    const m = await api.store.get(MODEL, "acme", "m");
    const name = modelProfileName("m", "dev-1");
    await api.store.create(PROFILE, {
      apiVersion: API_VERSION,
      metadata: { name, namespace: "acme", ownerReferences: [{ apiVersion: API_VERSION, kind: "Model", name: "m", uid: m!.metadata.uid, controller: true }] },
      spec: { model: "m", nodeName: "dev-1" },
      status: {},
    } as any);
    const devAgent = (await api.tokens.mint({ role: "agent", nodeName: "dev-1" })).token;
    await timings("dev-1", devAgent, { timings: [timing({ task: "svc-head", fromLayer: 1, toLayer: 1 })] }).expect(200);
    const fixed = await api.store.get(PROFILE, "acme", name);
    expect(fixed!.metadata.ownerReferences?.map((o) => o.kind)).toEqual(["Model", "EdgeNode"]);
    expect(fixed!.status.segments).toHaveLength(1);
  });
});

describe("clients' end-to-end latency", () => {
  it("the tenant reports a client's latency: kept per plan option beside the prediction", async () => {
    const res = await latency(tenant, { client: "dev-1", latencyMs: 130, count: 50, planRevision: 1 }).expect(200);
    expect(res.body).toMatchObject({ written: true, predictedMs: 100, measuredMs: 130, planRevision: 1 });
    const s = await api.store.get(ISVC, "acme", "svc");
    expect(s!.status.measured).toEqual([
      expect.objectContaining({
        client: "dev-1",
        architecture: "edge-device",
        split: 1,
        headNode: "dev-1",
        tailNode: "edge-1",
        variant: "base",
        exitAfterLayer: 3,
        latencyMs: 130,
        count: 50,
        predictedMs: 100,
      }),
    ]);
    // Within 5% of the stored figure: nothing written.
    expect((await latency(tenant, { client: "dev-1", latencyMs: 133, count: 60 }).expect(200)).body.written).toBe(false);
  });

  it("the client node's own agent may report; another node's agent, another tenant, a bootstrap token may not", async () => {
    const devAgent = (await api.tokens.mint({ role: "agent", nodeName: "dev-1" })).token;
    await latency(devAgent, { client: "dev-1", latencyMs: 200, count: 5 }).expect(200);
    // edge-1 is no client: refused whether the service exists or not, so it learns nothing.
    await latency(agent1, { client: "edge-1", latencyMs: 200, count: 5 }).expect(403);
    await latency(agent1, { client: "dev-1", latencyMs: 200, count: 5 }).expect(403);
    await latency(agent1, { client: "edge-1", latencyMs: 200, count: 5 }, "acme", "nope").expect(403);
    await latency(rival, { client: "dev-1", latencyMs: 200, count: 5 }).expect(404);
    const bootstrap = (await api.tokens.mint({ role: "bootstrap" })).token;
    await latency(bootstrap, { client: "dev-1", latencyMs: 200, count: 5 }).expect(403);
  });

  it.each([
    ["a client the plan does not have", { client: "dev-9", latencyMs: 1, count: 1 }, 422, "client"],
    ["a negative latency", { client: "dev-1", latencyMs: -5, count: 1 }, 422, "latencyMs"],
    ["no count", { client: "dev-1", latencyMs: 5 }, 422, "count"],
    ["a figure of an older plan", { client: "dev-1", latencyMs: 5, count: 1, planRevision: 7 }, 409, "planRevision"],
  ])("%s is refused with its status code and field", async (_name, body, code, field) => {
    const res = await latency(tenant, body).expect(code);
    expect(res.body.details.causes.map((c: any) => c.field)).toContain(field);
  });

  it("a service that does not exist is 404 for its tenant", async () => {
    await latency(tenant, { client: "dev-1", latencyMs: 5, count: 1 }, "acme", "nope").expect(404);
  });
});
