// A tenant cannot buy its way to the front of the queue, or preempt others, by naming a priority:
// a workload's priority is at most its tenant's spec.maxPriority, else the server's default cap
// (0 unless an admin configures EIAAS_DEFAULT_MAX_PRIORITY), on create, replace and both patch
// kinds; priorities are 32-bit, negative ones allowed.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo } from "@eiaas/api";
import { apiServerEnv } from "./config.js";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const ISVC = kindInfo("InferenceService");
let api: TestApi;
let configured: TestApi;

const spec = (priority?: number) => ({ model: "m", clients: { selector: { matchLabels: { tier: "device" } } }, ...(priority !== undefined ? { priority } : {}) });
const isvc = (name: string, priority?: number) => ({ apiVersion: API_VERSION, kind: "InferenceService", metadata: { name }, spec: spec(priority) });
const tj = (name: string, priority: number) => ({
  apiVersion: API_VERSION,
  kind: "TrainingJob",
  metadata: { name },
  spec: { model: "m", mode: "federated", data: { selector: { matchLabels: { data: "x" } } }, priority },
});
const services = (ns: string) => `${API_PREFIX}/namespaces/${ns}/inferenceservices`;

async function setUp(app: TestApi): Promise<void> {
  const admin = { Authorization: `Bearer ${app.adminToken}` };
  for (const [name, extra] of [
    ["plain", {}],
    ["trusted", { maxPriority: 100 }],
    ["humble", { maxPriority: -10 }],
  ] as const) {
    await request(app.app).post(`${API_PREFIX}/tenants`).set(admin).send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name }, spec: extra }).expect(201);
  }
}

beforeAll(async () => {
  api = await startTestApi();
  await setUp(api);
  configured = await startTestApi({ admission: { maxPriority: 5 } });
  await setUp(configured);
});
afterAll(async () => {
  await api.close();
  await configured.close();
});

/** The tenant's own token: the actor this admission is about. */
const as = async (app: TestApi, ns: string) => ({ Authorization: `Bearer ${await app.tenantToken(ns)}` });

function expectPriorityRefused(r: request.Response, message: RegExp): void {
  expect(r.status).toBe(422);
  expect(r.body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422 });
  expect(r.body.details.causes).toEqual([expect.objectContaining({ field: "spec.priority", message: expect.stringMatching(message) })]);
}

describe("priority admission", () => {
  it("a tenant without maxPriority gets the default cap, 0: above it is refused on create, replace and both patches", async () => {
    const auth = await as(api, "plain");
    expectPriorityRefused(await request(api.app).post(services("plain")).set(auth).send(isvc("high", 2_000_000_000)), /^must be no more than 0: the tenant sets no maxPriority/);
    expectPriorityRefused(await request(api.app).post(`${API_PREFIX}/namespaces/plain/trainingjobs`).set(auth).send(tj("high", 1)), /no more than 0/);
    await request(api.app).post(services("plain")).set(auth).send(isvc("zero")).expect(201);
    await request(api.app).post(services("plain")).set(auth).send(isvc("low", -2_147_483_648)).expect(201);
    const url = `${services("plain")}/zero`;
    expectPriorityRefused(await request(api.app).put(url).set(auth).send(isvc("zero", 1)), /no more than 0/);
    expectPriorityRefused(
      await request(api.app)
        .patch(url)
        .set(auth)
        .set("Content-Type", "application/merge-patch+json")
        .send(JSON.stringify({ spec: { priority: 1 } })),
      /no more than 0/,
    );
    expectPriorityRefused(
      await request(api.app)
        .patch(url)
        .set(auth)
        .set("Content-Type", "application/json-patch+json")
        .send(JSON.stringify([{ op: "replace", path: "/spec/priority", value: 1 }])),
      /no more than 0/,
    );
    expectPriorityRefused(
      await request(api.app)
        .post(`${services("plain")}?dryRun=All`)
        .set(auth)
        .send(isvc("dry", 1)),
      /no more than 0/,
    );
    expect((await api.store.get(ISVC, "plain", "zero"))!.spec.priority).toBe(0);
    expect(await api.store.get(ISVC, "plain", "high")).toBeNull();
  });

  it("an explicit maxPriority admits up to it, and only up to it (negative caps too)", async () => {
    const auth = await as(api, "trusted");
    await request(api.app).post(services("trusted")).set(auth).send(isvc("top", 100)).expect(201);
    expectPriorityRefused(await request(api.app).post(services("trusted")).set(auth).send(isvc("over", 101)), /^must be no more than the tenant's maxPriority \(100\)$/);
    await request(api.app)
      .patch(`${services("trusted")}/top`)
      .set(auth)
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ spec: { priority: 50 } }))
      .expect(200);
    const humble = await as(api, "humble");
    expectPriorityRefused(await request(api.app).post(services("humble")).set(humble).send(isvc("zero")), /maxPriority \(-10\)/);
    await request(api.app).post(services("humble")).set(humble).send(isvc("low", -10)).expect(201);
  });

  it("priorities and caps are 32-bit integers", async () => {
    const auth = await as(api, "plain");
    for (const priority of [-2_147_483_649, 2_147_483_648, 1.5]) {
      const r = await request(api.app).post(services("plain")).set(auth).send(isvc("odd", priority)).expect(422);
      expect(r.body.details.causes[0].field).toBe("spec.priority");
    }
    const admin = { Authorization: `Bearer ${api.adminToken}` };
    const r = await request(api.app)
      .post(`${API_PREFIX}/tenants`)
      .set(admin)
      .send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name: "huge" }, spec: { maxPriority: 2 ** 40 } })
      .expect(422);
    expect(r.body.details.causes[0].field).toBe("spec.maxPriority");
  });

  it("an object stored above the cap may be edited while its priority stays; raising it is refused", async () => {
    // As created before the cap existed: through the store, around admission.
    await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "legacy", namespace: "plain" }, spec: spec(1_000_000) });
    const auth = await as(api, "plain");
    const url = `${services("plain")}/legacy`;
    await request(api.app)
      .patch(url)
      .set(auth)
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ metadata: { labels: { team: "a" } } }))
      .expect(200);
    expectPriorityRefused(
      await request(api.app)
        .patch(url)
        .set(auth)
        .set("Content-Type", "application/merge-patch+json")
        .send(JSON.stringify({ spec: { priority: 1_000_001 } })),
      /no more than 0/,
    );
    await request(api.app)
      .patch(url)
      .set(auth)
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ spec: { priority: 0 } }))
      .expect(200);
  });

  it("an admin-configured default cap replaces 0", async () => {
    const auth = await as(configured, "plain");
    await request(configured.app).post(services("plain")).set(auth).send(isvc("five", 5)).expect(201);
    expectPriorityRefused(await request(configured.app).post(services("plain")).set(auth).send(isvc("six", 6)), /^must be no more than 5: the tenant sets no maxPriority/);
    // A tenant's own maxPriority wins over the default, lower or higher.
    await request(configured.app)
      .post(services("trusted"))
      .set(await as(configured, "trusted"))
      .send(isvc("high", 100))
      .expect(201);
  });

  it("the server's setting is parsed once: 0 by default, an int32 when set", () => {
    expect(apiServerEnv.parse({}).EIAAS_DEFAULT_MAX_PRIORITY).toBe(0);
    expect(apiServerEnv.parse({ EIAAS_DEFAULT_MAX_PRIORITY: "-3" }).EIAAS_DEFAULT_MAX_PRIORITY).toBe(-3);
    expect(apiServerEnv.safeParse({ EIAAS_DEFAULT_MAX_PRIORITY: "3000000000" }).success).toBe(false);
    expect(apiServerEnv.parse({}).EIAAS_DEFAULT_COUNT_QUOTA).toEqual({ models: 100, inferenceservices: 1000, trainingjobs: 1000 });
    expect(apiServerEnv.parse({ EIAAS_DEFAULT_COUNT_QUOTA: "count/models=5" }).EIAAS_DEFAULT_COUNT_QUOTA).toEqual({ models: 5 });
    expect(apiServerEnv.safeParse({ EIAAS_DEFAULT_COUNT_QUOTA: "count/pods=5" }).success).toBe(false);
  });
});
