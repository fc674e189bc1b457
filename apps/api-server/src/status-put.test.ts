// Status reports (PUT .../status) served around the router: the same answers as the routed PUT,
// byte for byte, for writes, no-ops and every error; unusual forms still take the router.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo } from "@eiaas/api";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const TASK = kindInfo("Task");
const NODE = kindInfo("EdgeNode");
let api: TestApi;

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const taskStatus = (ns: string, name: string) => `${API_PREFIX}/namespaces/${ns}/tasks/${name}/status`;
const report = (name: string, status: Record<string, unknown>) => ({ apiVersion: API_VERSION, kind: "Task", metadata: { name }, status });

beforeAll(async () => {
  api = await startTestApi({ maxBodyBytes: 4096 });
  for (const name of ["acme", "other"]) {
    await request(api.app).post(`${API_PREFIX}/tenants`).set(bearer(api.adminToken)).send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name } }).expect(201);
  }
});
afterAll(() => api.close());

const newTask = (name: string, nodeName: string, namespace = "acme") =>
  api.store.create(TASK, { apiVersion: API_VERSION, metadata: { name, namespace }, spec: { role: "serve", nodeName }, status: { phase: "Dispatched", attempt: 1 } } as any);

/** One request through the server's handler (direct path) and through the router alone. */
async function both(build: (app: TestApi["app"] | TestApi["routed"]) => request.Test): Promise<[request.Response, request.Response]> {
  const direct = await build(api.app);
  const routed = await build(api.routed);
  return [direct, routed];
}

describe("PUT .../status around the router", () => {
  it("writes a report and answers what the routed PUT answers for the same state", async () => {
    const agent = (await api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
    await newTask("t1", "edge-1");
    const running = report("t1", { phase: "Running", attempt: 1, startTime: "2026-11-27T00:00:00Z" });
    const written = await request(api.app).put(taskStatus("acme", "t1")).set(bearer(agent)).send(running).expect(200);
    expect(written.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(written.body.status).toMatchObject({ phase: "Running", attempt: 1 });
    expect(await api.store.get(TASK, "acme", "t1")).toEqual(written.body);
    // The same report again is a no-op on either path: the same object, the same bytes.
    const [direct, routed] = await both((app) => request(app).put(taskStatus("acme", "t1")).set(bearer(agent)).send(running));
    expect([direct.status, routed.status]).toEqual([200, 200]);
    expect(direct.text).toBe(written.text);
    expect(routed.text).toBe(written.text);
    // A charset parameter is still the direct path's; the next phase is written.
    const done = await request(api.app)
      .put(taskStatus("acme", "t1"))
      .set(bearer(agent))
      .set("Content-Type", "application/json; charset=utf-8")
      .send(JSON.stringify(report("t1", { phase: "Succeeded", attempt: 1 })))
      .expect(200);
    expect(done.body.status.phase).toBe("Succeeded");
    expect(BigInt(done.body.metadata.resourceVersion)).toBeGreaterThan(BigInt(written.body.metadata.resourceVersion));
  });

  it("answers every error with the routed PUT's Status", async () => {
    const agent = (await api.tokens.mint({ role: "agent", nodeName: "edge-2" })).token;
    const tenant = await api.tenantToken("other");
    await newTask("e1", "edge-2");
    const finished = await newTask("e-done", "edge-2");
    await api.store.updateStatus(TASK, finished, { phase: "Failed", attempt: 1, reason: "NodeLost" });
    const cases: Array<[string, (app: any) => PromiseLike<request.Response>, number]> = [
      [
        "no token",
        (app) =>
          request(app)
            .put(taskStatus("acme", "e1"))
            .send(report("e1", { phase: "Running", attempt: 1 })),
        401,
      ],
      [
        "bad token",
        (app) =>
          request(app)
            .put(taskStatus("acme", "e1"))
            .set(bearer("nope"))
            .send(report("e1", { phase: "Running", attempt: 1 })),
        401,
      ],
      ["invalid JSON", (app) => request(app).put(taskStatus("acme", "e1")).set(bearer(agent)).set("Content-Type", "application/json").send('{"status": '), 400],
      [
        "too large",
        (app) =>
          request(app)
            .put(taskStatus("acme", "e1"))
            .set(bearer(agent))
            .send(report("e1", { phase: "Running", attempt: 1, message: "x".repeat(5000) })),
        413,
      ],
      [
        "invalid phase",
        (app) =>
          request(app)
            .put(taskStatus("acme", "e1"))
            .set(bearer(agent))
            .send(report("e1", { phase: "Bogus", attempt: 1 })),
        0,
      ],
      [
        "unknown task",
        (app) =>
          request(app)
            .put(taskStatus("acme", "nope"))
            .set(bearer(api.adminToken))
            .send(report("nope", { phase: "Running", attempt: 1 })),
        404,
      ],
      [
        "another tenant's task",
        (app) =>
          request(app)
            .put(taskStatus("acme", "e1"))
            .set(bearer(tenant))
            .send(report("e1", { phase: "Running", attempt: 1 })),
        0,
      ],
      [
        "another node's agent",
        async (app) =>
          request(app)
            .put(taskStatus("acme", "e1"))
            .set(bearer((await api.tokens.mint({ role: "agent", nodeName: "edge-3" })).token))
            .send(report("e1", { phase: "Running", attempt: 1 })),
        404,
      ],
      [
        "a report the task moved past",
        (app) =>
          request(app)
            .put(taskStatus("acme", "e-done"))
            .set(bearer(agent))
            .send(report("e-done", { phase: "Running", attempt: 1 })),
        409,
      ],
      ["unknown kind", (app) => request(app).put(`${API_PREFIX}/namespaces/acme/widgets/w/status`).set(bearer(api.adminToken)).send({}), 404],
      ["namespaced kind without namespace", (app) => request(app).put(`${API_PREFIX}/tasks/e1/status`).set(bearer(api.adminToken)).send({}), 404],
    ];
    for (const [what, build, code] of cases) {
      const direct = await build(api.app);
      const routed = await build(api.routed);
      expect(direct.status, what).toBeGreaterThanOrEqual(400);
      if (code) expect(direct.status, what).toBe(code);
      expect(direct.status, what).toBe(routed.status);
      expect(direct.body, what).toMatchObject({ kind: "Status", code: direct.status });
      expect(direct.body, what).toEqual(routed.body);
    }
    // None of them wrote anything.
    expect((await api.store.get(TASK, "acme", "e1"))?.status.phase).toBe("Dispatched");
    // An empty body reads as {} on both paths (body-parser's reading): the same answer either way.
    await newTask("e2", "edge-2");
    const direct = await request(api.app).put(taskStatus("acme", "e2")).set(bearer(agent)).set("Content-Type", "application/json").send("");
    const routed = await request(api.routed).put(taskStatus("acme", "e2")).set(bearer(agent)).set("Content-Type", "application/json").send("");
    expect(direct.status).toBe(routed.status);
    expect(direct.text).toBe(routed.text);
  });

  it("writes cluster-scoped status (a node's) and leaves unusual forms to the router", async () => {
    const node = await api.store.create(NODE, { apiVersion: API_VERSION, metadata: { name: "edge-4" }, spec: { tier: "edge", capacity: { cpu: 1000, memoryMiB: 1024, gpu: 0 } } } as any);
    const body = { apiVersion: API_VERSION, kind: "EdgeNode", metadata: { name: "edge-4" }, status: { phase: "Ready" } };
    const w = await request(api.app).put(`${API_PREFIX}/edgenodes/edge-4/status`).set(bearer(api.adminToken)).send(body).expect(200);
    expect(w.body.status.phase).toBe("Ready");
    expect(w.body.metadata.resourceVersion).not.toBe(node.metadata.resourceVersion);
    // dryRun (a query string) is routed: answered, not written.
    await newTask("d1", "edge-4");
    const dry = await request(api.app)
      .put(`${taskStatus("acme", "d1")}?dryRun=All`)
      .set(bearer(api.adminToken))
      .send(report("d1", { phase: "Running", attempt: 1 }))
      .expect(200);
    expect(dry.body.status.phase).toBe("Running");
    expect((await api.store.get(TASK, "acme", "d1"))?.status.phase).toBe("Dispatched");
    // Another media type is routed, and refused as the router refuses it.
    const [direct, routed] = await both((app) => request(app).put(taskStatus("acme", "d1")).set(bearer(api.adminToken)).set("Content-Type", "text/plain").send("hello"));
    expect(direct.status).toBe(415);
    expect(direct.body).toEqual(routed.body);
  });
});
