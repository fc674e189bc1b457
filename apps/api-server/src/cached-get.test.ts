// Single-object GETs answered from the watch cache: the same answers as the routed GET, current
// for writes made by other processes, with the same authentication, isolation and errors.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo, TASK_REPORT_SUPERSEDED } from "@eiaas/api";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");
let api: TestApi;
let tenantToken: string;

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const admin = () => bearer(api.adminToken);

beforeAll(async () => {
  api = await startTestApi();
  for (const name of ["acme", "other"]) {
    await request(api.app).post(`${API_PREFIX}/tenants`).set(admin()).send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name } }).expect(201);
  }
  tenantToken = await api.tenantToken("acme");
});
afterAll(() => api.close());

const isvcPath = (ns: string, name: string) => `${API_PREFIX}/namespaces/${ns}/inferenceservices/${name}`;

describe("GET of one object from the watch cache", () => {
  it("answers what the routed GET answers, and sees writes other processes committed just before", async () => {
    const created = await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "a", namespace: "acme" }, spec: { model: "m" } } as any);
    const fast = await request(api.app).get(isvcPath("acme", "a")).set(admin()).expect(200);
    expect(fast.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(fast.body).toEqual(created);
    // A query string takes the router: same object, same bytes.
    const routed = await request(api.app)
      .get(`${isvcPath("acme", "a")}?pretty=false`)
      .set(admin())
      .expect(200);
    expect(routed.text).toBe(fast.text);

    // Written straight to Postgres (as the scheduler does), read back at once, many times over.
    let current = created;
    for (let i = 0; i < 20; i++) {
      current = await api.store.updateStatus(ISVC, current, { phase: "Pending", message: `step ${i}` });
      const got = await request(api.app).get(isvcPath("acme", "a")).set(admin()).expect(200);
      expect(got.body.metadata.resourceVersion).toBe(current.metadata.resourceVersion);
      expect(got.body.status.message).toBe(`step ${i}`);
    }
    await api.store.delete(ISVC, current);
    await request(api.app).get(isvcPath("acme", "a")).set(admin()).expect(404);
  });

  it("keeps tenants and agents to their own objects and answers errors as Status", async () => {
    await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "mine", namespace: "acme" }, spec: { model: "m" } } as any);
    await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "theirs", namespace: "other" }, spec: { model: "m" } } as any);
    await request(api.app).get(isvcPath("acme", "mine")).set(bearer(tenantToken)).expect(200);
    const cross = await request(api.app).get(isvcPath("other", "theirs")).set(bearer(tenantToken)).expect(404);
    expect(cross.body).toMatchObject({ kind: "Status", reason: "NotFound", code: 404 });
    const missing = await request(api.app).get(isvcPath("acme", "nope")).set(admin()).expect(404);
    expect(missing.body).toMatchObject({ kind: "Status", reason: "NotFound", message: 'inferenceservices "nope" not found' });
    expect((await request(api.app).get(isvcPath("acme", "mine")).expect(401)).body).toMatchObject({ kind: "Status", reason: "Unauthorized" });
    await request(api.app).get(isvcPath("acme", "mine")).set(bearer("not-a-token")).expect(401);

    // An agent reads the tasks of its own node only.
    const agent = (await api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
    for (const [name, nodeName] of [
      ["t-here", "edge-1"],
      ["t-there", "edge-2"],
    ] as const) {
      await api.store.create(TASK, { apiVersion: API_VERSION, metadata: { name, namespace: "acme" }, spec: { role: "serve", nodeName }, status: { phase: "Scheduled", attempt: 1 } } as any);
    }
    await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks/t-here`).set(bearer(agent)).expect(200);
    await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks/t-there`).set(bearer(agent)).expect(404);
    await api.store.create(kindInfo("EdgeNode"), { apiVersion: API_VERSION, metadata: { name: "edge-1" }, spec: { tier: "edge", capacity: { cpu: 1000, memoryMiB: 1024, gpu: 0 } } } as any);
    await request(api.app).get(`${API_PREFIX}/edgenodes/edge-1`).set(admin()).expect(200);
    // Another node's agent does not see this node.
    const otherAgent = (await api.tokens.mint({ role: "agent", nodeName: "edge-2" })).token;
    await request(api.app).get(`${API_PREFIX}/edgenodes/edge-1`).set(bearer(otherAgent)).expect(404);
  });

  it("leaves Tables, subresources and lists to the router, and falls back to Postgres when the cache cannot catch up", async () => {
    await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "t", namespace: "acme" }, spec: { model: "m" } } as any);
    const table = await request(api.app).get(isvcPath("acme", "t")).set(admin()).set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").expect(200);
    expect(table.body.kind).toBe("Table");
    await request(api.app)
      .get(`${isvcPath("acme", "t")}/status`)
      .set(admin())
      .expect(200);
    expect((await request(api.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices`).set(admin()).expect(200)).body.kind).toBe("InferenceServiceList");

    // The feed stops: the cache can no longer prove itself current, Postgres answers instead.
    await api.feed.close();
    const after = await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "late", namespace: "acme" }, spec: { model: "m" } } as any);
    expect((await request(api.app).get(isvcPath("acme", "late")).set(admin()).expect(200)).body).toEqual(after);
  });
});

describe("status writes that start from the watch cache without waiting for it", () => {
  it("keep reports ordered against writes the cache has not seen yet", async () => {
    const agent = (await api.tokens.mint({ role: "agent", nodeName: "edge-9" })).token;
    const report = (name: string, phase: string, attempt = 1) =>
      request(api.app).put(`${API_PREFIX}/namespaces/acme/tasks/${name}/status`).set(bearer(agent)).send({ apiVersion: API_VERSION, kind: "Task", metadata: { name }, status: { phase, attempt } });
    for (let i = 0; i < 20; i++) {
      const name = `r-${i}`;
      let t = await api.store.create(TASK, {
        apiVersion: API_VERSION,
        metadata: { name, namespace: "acme" },
        spec: { role: "serve", nodeName: "edge-9" },
        status: { phase: "Dispatched", attempt: 1 },
      } as any);
      // Seen by the cache before the race below.
      await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks/${name}`).set(admin()).expect(200);
      // Another writer finishes the task; the cache has most likely not caught up when the late
      // Running report arrives: it must not undo Succeeded.
      t = await api.store.updateStatus(TASK, t, { phase: "Succeeded", attempt: 1 });
      // Not applied, and said so (409 with the superseded cause), not a 200 its sender would
      // take for "applied".
      const late = await report(name, "Running").expect(409);
      expect(late.body).toMatchObject({ kind: "Status", reason: "Conflict", code: 409, details: { name, kind: "tasks" } });
      expect(late.body.details.causes).toEqual([expect.objectContaining({ field: "status.phase", reason: TASK_REPORT_SUPERSEDED })]);
      expect(late.body.message).toMatch(/already Succeeded/);
      expect((await api.store.get(TASK, "acme", name))?.metadata.resourceVersion).toBe(t.metadata.resourceVersion);
      expect((await api.store.get(TASK, "acme", name))?.status.phase).toBe("Succeeded");
      // The same final report again (a retry whose answer was lost) is answered as applied.
      await request(api.app)
        .put(`${API_PREFIX}/namespaces/acme/tasks/${name}/status`)
        .set(bearer(agent))
        .send({ apiVersion: API_VERSION, kind: "Task", metadata: { name }, status: { phase: "Succeeded", attempt: 1 } })
        .expect(200);
      // A report of a new attempt does apply, whatever the cache held.
      const next = await report(name, "Running", 2).expect(200);
      expect(next.body.status).toMatchObject({ phase: "Running", attempt: 2 });
      expect((await api.store.get(TASK, "acme", name))?.status).toMatchObject({ phase: "Running", attempt: 2 });
      // The cache holds exactly this report already while the task has failed since: the answer is
      // the failed task, not the cached copy the report matched.
      await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks/${name}`).set(admin()).expect(200);
      const failed = await api.store.updateStatus(TASK, (await api.store.get(TASK, "acme", name))!, { phase: "Failed", attempt: 2 });
      const dup = await report(name, "Running", 2).expect(409);
      expect(dup.body.details.causes[0].reason).toBe(TASK_REPORT_SUPERSEDED);
      expect((await api.store.get(TASK, "acme", name))?.metadata.resourceVersion).toBe(failed.metadata.resourceVersion);
      // An older attempt's report names the attempt.
      const older = await report(name, "Succeeded", 1).expect(409);
      expect(older.body.details.causes[0]).toMatchObject({ field: "status.attempt", reason: TASK_REPORT_SUPERSEDED });
    }
    // Another node's agent still cannot write it (404), cached or not.
    const other = (await api.tokens.mint({ role: "agent", nodeName: "edge-8" })).token;
    await request(api.app)
      .put(`${API_PREFIX}/namespaces/acme/tasks/r-0/status`)
      .set(bearer(other))
      .send({ apiVersion: API_VERSION, kind: "Task", metadata: { name: "r-0" }, status: { phase: "Failed", attempt: 2 } })
      .expect(404);
  });
});
