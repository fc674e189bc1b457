// A tenant cannot grow the API's memory without bound: every object is at most 1.5 MiB stored
// (413 on every write path: create, replace, merge and JSON patch, status on both PUT paths, an
// agent's heartbeat, dryRun), its annotations at most 256 KiB (422), a request body at most the
// body limit (413), and a tenant holds at most its count quota of each kind it creates (403; a
// default cap when its spec sets none) — never more, however many creates race through however
// many API servers.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo } from "@eiaas/api";
import { createTestDatabase, type TestDatabase } from "@eiaas/testing";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const MODEL = kindInfo("Model");
const TASK = kindInfo("Task");
const NODE = kindInfo("EdgeNode");
const MiB = 1024 * 1024;
const LIMIT = 1.5 * MiB;

let api: TestApi;
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });
const models = (ns: string) => `${API_PREFIX}/namespaces/${ns}/models`;
const model = (name: string, o: { annotations?: Record<string, string>; layerName?: string } = {}) => ({
  apiVersion: API_VERSION,
  kind: "Model",
  metadata: { name, ...(o.annotations ? { annotations: o.annotations } : {}) },
  spec: { inputBytes: 1000, accuracy: 0.7, layers: [{ name: o.layerName ?? "l1", flops: 1e6, outputBytes: 100 }] },
});
const tenant = (name: string, spec: Record<string, unknown> = {}) =>
  request(api.app).post(`${API_PREFIX}/tenants`).set(admin()).send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name }, spec }).expect(201);

beforeAll(async () => {
  // A body limit above the object limit (as the server's 3 MiB over 1.5 MiB): what is refused
  // below is the object, not the request.
  api = await startTestApi({ maxBodyBytes: 4 * MiB, admission: { countQuota: { inferenceservices: 3 } } });
  await tenant("acme", { quota: { "count/models": 1000 } });
});
afterAll(() => api.close());

describe("object size", () => {
  it("60 Models with a 2.9 MB annotation (and 10 with 2.9 MB of spec) are refused and none reaches the watch cache", async () => {
    await api.cache.get(MODEL, "acme", "none"); // caught up: what is there is counted
    const before = api.cache.size;
    const big = "x".repeat(2_900_000);
    for (let i = 0; i < 60; i++) {
      const annotated = await request(api.app)
        .post(models("acme"))
        .set(admin())
        .send(model(`ann-${i}`, { annotations: { blob: big } }));
      expect(annotated.status).toBe(422);
      expect(annotated.body.details.causes).toContainEqual(expect.objectContaining({ field: "metadata.annotations", message: "Too long: must have at most 262144 bytes" }));
      if (i % 6 !== 0) continue;
      const specified = await request(api.app)
        .post(models("acme"))
        .set(admin())
        .send(model(`spec-${i}`, { layerName: big }));
      expect(specified.status).toBe(413);
      expect(specified.body).toMatchObject({ kind: "Status", reason: "RequestEntityTooLarge", code: 413 });
      expect(specified.body.message).toMatch(new RegExp(`^Request entity too large: models "spec-${i}" would be \\d+ bytes stored; limit is ${LIMIT}$`));
    }
    // The cache caught up past them (a later write is in it), and holds none of them.
    await request(api.app).post(models("acme")).set(admin()).send(model("after")).expect(201);
    expect(await api.cache.get(MODEL, "acme", "after")).not.toBeNull();
    expect(api.cache.size).toBe(before + 1);
    for (const name of ["ann-0", "ann-59", "spec-0", "spec-54"]) expect(await api.cache.get(MODEL, "acme", name)).toBeNull();
    expect((await api.store.list(MODEL, { namespace: "acme" })).items.map((m) => m.metadata.name)).toEqual(["after"]);
  }, 120_000);

  it("annotations up to 256 KiB in all are taken; one byte more is 422 with the field", async () => {
    const value = "é".repeat((262144 - 1) / 2 - 0.5); // 262142 bytes with the key's 1: under by 1
    await request(api.app)
      .post(models("acme"))
      .set(admin())
      .send(model("ann-ok", { annotations: { k: value + "a" } }))
      .expect(201);
    const over = await request(api.app)
      .post(models("acme"))
      .set(admin())
      .send(model("ann-over", { annotations: { k: value + "ab" } }))
      .expect(422);
    expect(over.body.details.causes).toEqual([expect.objectContaining({ field: "metadata.annotations" })]);
  });

  it("a replace, a merge patch, a JSON patch or a dryRun that grows an object past the limit is 413 and changes nothing", async () => {
    const half = "h".repeat(0.9 * MiB);
    const created = await request(api.app)
      .post(models("acme"))
      .set(admin())
      .send(model("grow", { layerName: half }))
      .expect(201);
    const url = `${models("acme")}/grow`;
    const twoLayers = {
      ...model("grow").spec,
      layers: [
        { name: half, flops: 1, outputBytes: 1 },
        { name: half, flops: 1, outputBytes: 1 },
      ],
    };
    const attempts = [
      request(api.app)
        .put(url)
        .set(admin())
        .send({ ...model("grow"), spec: twoLayers }),
      request(api.app)
        .patch(url)
        .set(admin())
        .set("Content-Type", "application/merge-patch+json")
        .send(JSON.stringify({ spec: { layers: twoLayers.layers } })),
      request(api.app)
        .patch(url)
        .set(admin())
        .set("Content-Type", "application/json-patch+json")
        .send(JSON.stringify([{ op: "add", path: "/spec/layers/-", value: { name: half, flops: 1, outputBytes: 1 } }])),
      request(api.app)
        .patch(`${url}?dryRun=All`)
        .set(admin())
        .set("Content-Type", "application/merge-patch+json")
        .send(JSON.stringify({ spec: { layers: twoLayers.layers } })),
      request(api.app)
        .post(`${models("acme")}?dryRun=All`)
        .set(admin())
        .send(model("dry", { layerName: half + half })),
    ];
    for (const r of await Promise.all(attempts)) {
      expect(r.status).toBe(413);
      expect(r.body.reason).toBe("RequestEntityTooLarge");
    }
    const now = await request(api.app).get(url).set(admin()).expect(200);
    expect(now.body.metadata.resourceVersion).toBe(created.body.metadata.resourceVersion);
    await request(api.app)
      .get(`${models("acme")}/dry`)
      .set(admin())
      .expect(404);
  });

  it("a status report past the limit is 413 on the direct and the routed PUT; so is an agent's heartbeat", async () => {
    await api.store.create(TASK, {
      apiVersion: API_VERSION,
      metadata: { name: "t1", namespace: "acme" },
      spec: { role: "serve", nodeName: "edge-1" },
      status: { phase: "Dispatched", attempt: 1 },
    } as any);
    await api.store.create(NODE, { apiVersion: API_VERSION, metadata: { name: "edge-1" }, spec: { tier: "edge", capacity: { cpu: 1000, memoryMiB: 1024 } } } as any);
    const agent = { Authorization: `Bearer ${(await api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token}` };
    const report = { apiVersion: API_VERSION, kind: "Task", metadata: { name: "t1" }, status: { phase: "Running", attempt: 1, message: "m".repeat(2 * MiB) } };
    const path = `${API_PREFIX}/namespaces/acme/tasks/t1/status`;
    for (const app of [api.app, api.routed]) {
      const r = await request(app).put(path).set(agent).send(report);
      expect(r.status).toBe(413);
      expect(r.body.reason).toBe("RequestEntityTooLarge");
    }
    expect((await api.store.get(TASK, "acme", "t1"))!.status.phase).toBe("Dispatched");
    const runningTasks = Array.from({ length: 8000 }, (_, i) => `${"t".repeat(240)}-${i}`);
    const hb = await request(api.app).post(`${API_PREFIX}/edgenodes/edge-1/heartbeat`).set(agent).send({ runningTasks });
    expect(hb.status).toBe(413);
    expect((await api.store.get(NODE, undefined, "edge-1"))!.status.runningTasks).toBeUndefined();
  });

  it("a body over the body limit is 413 with Kubernetes' message, routed or direct", async () => {
    const small = await startTestApi({ maxBodyBytes: 64 * 1024 });
    try {
      const auth = { Authorization: `Bearer ${small.adminToken}` };
      const body = JSON.stringify(model("m", { layerName: "b".repeat(70 * 1024) }));
      const post = await request(small.app).post(models("acme")).set(auth).set("Content-Type", "application/json").send(body);
      const put = await request(small.app).put(`${API_PREFIX}/namespaces/acme/tasks/t/status`).set(auth).set("Content-Type", "application/json").send(body);
      for (const r of [post, put]) {
        expect(r.status).toBe(413);
        expect(r.body).toMatchObject({ reason: "RequestEntityTooLarge", message: "Request entity too large: limit is 65536" });
      }
    } finally {
      await small.close();
    }
  });
});

describe("object-count quota", () => {
  const isvc = (name: string) => ({ apiVersion: API_VERSION, kind: "InferenceService", metadata: { name }, spec: { model: "m", clients: { selector: { matchLabels: { tier: "device" } } } } });
  const services = (ns: string) => `${API_PREFIX}/namespaces/${ns}/inferenceservices`;

  it("the create past the tenant's count/models is 403 with Kubernetes' message; a delete makes room; dryRun answers the same", async () => {
    await tenant("small", { quota: { "count/models": 2 } });
    await request(api.app).post(models("small")).set(admin()).send(model("m1")).expect(201);
    await request(api.app).post(models("small")).set(admin()).send(model("m2")).expect(201);
    const tenantToken = { Authorization: `Bearer ${await api.tenantToken("small")}` };
    for (const path of [models("small"), `${models("small")}?dryRun=All`]) {
      const over = await request(api.app).post(path).set(tenantToken).send(model("m3")).expect(403);
      expect(over.body).toMatchObject({
        kind: "Status",
        reason: "Forbidden",
        code: 403,
        message: 'models "m3" is forbidden: exceeded quota: small, requested: count/models=1, used: count/models=2, limited: count/models=2',
      });
    }
    await request(api.app)
      .delete(`${models("small")}/m1`)
      .set(tenantToken)
      .expect(200);
    await request(api.app).post(models("small")).set(tenantToken).send(model("m3")).expect(201);
  });

  it("a tenant without a count quota gets the server's default cap; its own quota replaces it", async () => {
    await tenant("plain");
    await tenant("roomy", { quota: { "count/inferenceservices": 5 } });
    for (let i = 0; i < 3; i++)
      await request(api.app)
        .post(services("plain"))
        .set(admin())
        .send(isvc(`s${i}`))
        .expect(201);
    const over = await request(api.app).post(services("plain")).set(admin()).send(isvc("s3")).expect(403);
    expect(over.body.message).toBe(
      'inferenceservices "s3" is forbidden: exceeded quota: plain, requested: count/inferenceservices=1, used: count/inferenceservices=3, limited: count/inferenceservices=3',
    );
    for (let i = 0; i < 5; i++)
      await request(api.app)
        .post(services("roomy"))
        .set(admin())
        .send(isvc(`s${i}`))
        .expect(201);
    await request(api.app).post(services("roomy")).set(admin()).send(isvc("s5")).expect(403);
    // Raising the tenant's quota makes room at once.
    await request(api.app)
      .patch(`${API_PREFIX}/tenants/roomy`)
      .set(admin())
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ spec: { quota: { "count/inferenceservices": 6 } } }))
      .expect(200);
    await request(api.app).post(services("roomy")).set(admin()).send(isvc("s5")).expect(201);
  });

  it("a count quota must be a whole number", async () => {
    const r = await request(api.app)
      .post(`${API_PREFIX}/tenants`)
      .set(admin())
      .send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name: "bad" }, spec: { quota: { "count/models": 1.5, "count/pods": 3 } } })
      .expect(422);
    expect(r.body.details.causes.map((c: { field: string }) => c.field).sort()).toEqual(["spec.quota.count/models", "spec.quota.count/pods"]);
  });

  describe("two API servers on one database", () => {
    let shared: TestDatabase;
    let first: TestApi;
    let second: TestApi;
    beforeAll(async () => {
      shared = await createTestDatabase();
      first = await startTestApi({ database: shared, keepDatabase: true });
      second = await startTestApi({ database: shared, keepDatabase: true });
    });
    afterAll(async () => {
      await first?.close();
      await second?.close();
      await shared?.drop();
    });

    it("many creates at once through both never pass the cap", async () => {
      const auth = { Authorization: `Bearer ${first.adminToken}` };
      await request(first.app)
        .post(`${API_PREFIX}/tenants`)
        .set(auth)
        .send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name: "busy" }, spec: { quota: { "count/models": 20 } } })
        .expect(201);
      const posts = Array.from({ length: 80 }, (_, i) =>
        request(i % 2 ? first.app : second.app)
          .post(models("busy"))
          .set(auth)
          .send(model(`m${i}`)),
      );
      const codes = (await Promise.all(posts)).map((r) => r.status);
      expect(codes.filter((c) => c === 201)).toHaveLength(20);
      expect(codes.filter((c) => c === 403)).toHaveLength(60);
      expect((await first.store.list(MODEL, { namespace: "busy" })).items).toHaveLength(20);
    });
  });
});
