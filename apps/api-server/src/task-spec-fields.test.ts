// A Task's load, priority and expected run time are typed spec fields: validated as numbers with a
// 422 naming the field, served back as numbers, and written by controllers (admin) only — a tenant
// reads its tasks and an agent reports their status, neither sets what the scheduler counts.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION } from "@eiaas/api";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

let api: TestApi;
let tenant: string;
let agent: string;
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const TASKS = `${API_PREFIX}/namespaces/acme/tasks`;
const MERGE = "application/merge-patch+json";
const task = (name: string, spec: Record<string, unknown>) => ({ apiVersion: API_VERSION, kind: "Task", metadata: { name }, spec: { role: "serve", nodeName: "edge-1", ...spec } });

beforeAll(async () => {
  api = await startTestApi();
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set(bearer(api.adminToken))
    .send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
  tenant = await api.tenantToken("acme");
  agent = (await api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
});
afterAll(() => api.close());

describe("Task.spec load, priority and expectedRunMs", () => {
  it("are stored and served as numbers", async () => {
    const created = await request(api.app)
      .post(TASKS)
      .set(bearer(api.adminToken))
      .send(task("typed", { load: 0.35, priority: -7, expectedRunMs: 1200 }))
      .expect(201);
    expect(created.body.spec).toMatchObject({ load: 0.35, priority: -7, expectedRunMs: 1200 });
    const got = await request(api.app).get(`${TASKS}/typed`).set(bearer(tenant)).expect(200);
    expect(got.body.spec).toMatchObject({ load: 0.35, priority: -7, expectedRunMs: 1200 });
    expect(got.body.metadata.annotations).toBeUndefined();
  });

  it("refuse what is not a number the scheduler can count, with a 422 naming each field", async () => {
    const bad: Array<[Record<string, unknown>, string[]]> = [
      [{ load: "0.5", priority: "7", expectedRunMs: "1200" }, ["spec.expectedRunMs", "spec.load", "spec.priority"]],
      [{ load: -0.1, priority: 1.5, expectedRunMs: -1 }, ["spec.expectedRunMs", "spec.load", "spec.priority"]],
      [{ priority: 2 ** 31, expectedRunMs: 1.5 }, ["spec.expectedRunMs", "spec.priority"]],
      [{ load: null }, ["spec.load"]],
    ];
    for (const [spec, fields] of bad) {
      const res = await request(api.app).post(TASKS).set(bearer(api.adminToken)).send(task("bad", spec));
      expect(res.status, res.text).toBe(422);
      expect(res.body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422 });
      expect(res.body.details.causes.map((c: { field: string }) => c.field).sort(), JSON.stringify(spec)).toEqual(fields);
    }
    const edit = await request(api.app).patch(`${TASKS}/typed`).set(bearer(api.adminToken)).set("Content-Type", MERGE).send('{"spec": {"load": 1e400}}');
    expect(edit.status, edit.text).toBe(422);
    expect(edit.body.details.causes[0].field).toBe("spec.load");
    expect((await request(api.app).get(`${TASKS}/bad`).set(bearer(api.adminToken))).status).toBe(404);
  });

  it("cannot be set by a tenant or an agent", async () => {
    const lighter = JSON.stringify({ spec: { load: 0, priority: 2_000_000_000 } });
    const asTenant = await request(api.app).patch(`${TASKS}/typed`).set(bearer(tenant)).set("Content-Type", MERGE).send(lighter);
    expect(asTenant.status).toBe(403);
    expect(
      (
        await request(api.app)
          .post(TASKS)
          .set(bearer(tenant))
          .send(task("mine", { load: 0 }))
      ).status,
    ).toBe(403);
    const asAgent = await request(api.app).patch(`${TASKS}/typed`).set(bearer(agent)).set("Content-Type", MERGE).send(lighter);
    expect(asAgent.status).toBe(403);
    // A status report carries no spec: what it sends there is not written.
    const current = (await request(api.app).get(`${TASKS}/typed`).set(bearer(agent)).expect(200)).body;
    await request(api.app)
      .put(`${TASKS}/typed/status`)
      .set(bearer(agent))
      .send({ ...current, spec: { ...current.spec, load: 0, priority: 2_000_000_000 }, status: { phase: "Running", attempt: 1 } })
      .expect(200);
    const after = await request(api.app).get(`${TASKS}/typed`).set(bearer(api.adminToken)).expect(200);
    expect(after.body.spec).toMatchObject({ load: 0.35, priority: -7, expectedRunMs: 1200 });
    expect(after.body.status.phase).toBe("Running");
  });
});
