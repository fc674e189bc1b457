// What tenants and agents may read across the control plane: tenants see EdgeNodes without the
// names of the tasks on them (every tenant's, named after their workloads) on every read path —
// cached GET, routed GET, lists (JSON and Table), watches (JSON and Table) — and agents read only
// the Models their own node's tasks use. Real API over a real socket, real Postgres.
import http from "node:http";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const NODE = kindInfo("EdgeNode");
const ISVC = kindInfo("InferenceService");
const MODEL = kindInfo("Model");
const TASK = kindInfo("Task");
const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io";
/** Task names of another tenant's workload: what a tenant must never read. */
const SECRET_TASKS = ["secret-launch-plan-r1-serve-0a1b2c3d", "secret-launch-plan-r1-head-4e5f6a7b"];

let api: TestApi;
let base: string;
let tenant: string;
let node: StoredObject;

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

interface OpenWatch {
  events: any[];
  /** Resolves once `n` events arrived (or the stream ended). */
  next(n: number): Promise<any[]>;
  close(): void;
}

/** A watch on a real socket, its newline-delimited events collected as they arrive. */
function openWatch(path: string, token: string, accept = "application/json"): OpenWatch {
  const events: any[] = [];
  const waiters: Array<() => void> = [];
  let ended = false;
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const req = http.get(`${base}${path}`, { headers: { ...bearer(token), Accept: accept } }, (res) => {
    let buf = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) events.push({ status: res.statusCode, ...JSON.parse(line) });
      }
      wake();
    });
    res.on("end", () => {
      ended = true;
      wake();
    });
  });
  req.on("error", () => {
    ended = true;
    wake();
  });
  return {
    events,
    next: (n) =>
      new Promise((resolve) => {
        const check = () => (events.length >= n || ended ? resolve(events) : waiters.push(check));
        check();
      }),
    close: () => req.destroy(),
  };
}

/** Every event of a watch that ends by itself (timeoutSeconds). */
const watchToEnd = (path: string, token: string) => openWatch(path, token).next(Number.POSITIVE_INFINITY);

beforeAll(async () => {
  api = await startTestApi();
  base = await api.listen();
  for (const name of ["acme", "rival"]) {
    await request(api.app).post(`${API_PREFIX}/tenants`).set(bearer(api.adminToken)).send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name } }).expect(201);
  }
  tenant = await api.tenantToken("acme");
  const created = await api.store.create(NODE, { apiVersion: API_VERSION, metadata: { name: "edge-1" }, spec: { tier: "edge", capacity: { cpu: 1000, memoryMiB: 1024, gpu: 0 } } } as any);
  node = await api.store.updateStatus(NODE, created, { phase: "Ready", runningTasks: SECRET_TASKS });
});
afterAll(() => api.close());

/** What a tenant must see of edge-1: no task names, their count instead. */
function expectTenantView(obj: any): void {
  expect(obj.metadata.name).toBe("edge-1");
  expect(obj.status.runningTasks).toBeUndefined();
  expect(obj.status.runningTaskCount).toBeGreaterThanOrEqual(SECRET_TASKS.length);
  expect(JSON.stringify(obj)).not.toContain("secret-launch-plan");
}

describe("a tenant reading EdgeNodes", () => {
  it("never sees the names of the tasks on a node, on any GET or list", async () => {
    const nodePath = `${API_PREFIX}/edgenodes/edge-1`;
    // The cached GET (no query string), then the routed one, the status subresource and a Table.
    const cached = await request(api.app).get(nodePath).set(bearer(tenant)).expect(200);
    expectTenantView(cached.body);
    expect(cached.body.status.runningTaskCount).toBe(2);
    expect(cached.body.status.phase).toBe("Ready");
    // Again: the tenant view is kept beside the full one, and stays apart from it.
    expectTenantView((await request(api.app).get(nodePath).set(bearer(tenant)).expect(200)).body);
    expect((await request(api.app).get(nodePath).set(bearer(api.adminToken)).expect(200)).body.status.runningTasks).toEqual(SECRET_TASKS);
    expectTenantView((await request(api.app).get(nodePath).set(bearer(tenant)).expect(200)).body);
    expectTenantView((await request(api.app).get(`${nodePath}?pretty=true`).set(bearer(tenant)).expect(200)).body);
    expectTenantView((await request(api.app).get(`${nodePath}/status`).set(bearer(tenant)).expect(200)).body);
    const oneRow = await request(api.app).get(`${nodePath}?includeObject=Object`).set(bearer(tenant)).set("Accept", TABLE).expect(200);
    expectTenantView(oneRow.body.rows[0].object);

    const list = await request(api.app).get(`${API_PREFIX}/edgenodes`).set(bearer(tenant)).expect(200);
    expect(list.body.items).toHaveLength(1);
    expectTenantView(list.body.items[0]);
    for (const includeObject of ["Object", "Metadata", "None"]) {
      const table = await request(api.app).get(`${API_PREFIX}/edgenodes?includeObject=${includeObject}`).set(bearer(tenant)).set("Accept", TABLE).expect(200);
      expect(table.text).not.toContain("secret-launch-plan");
      if (includeObject === "Object") expectTenantView(table.body.rows[0].object);
    }
  });

  it("never sees them in watch events, JSON or Table, initial, live or resumed, nor by selecting on them", async () => {
    const from = node.metadata.resourceVersion;
    const json = openWatch(`${API_PREFIX}/edgenodes?watch=true`, tenant);
    const table = openWatch(`${API_PREFIX}/edgenodes?watch=true`, tenant, TABLE);
    // Both streams are live once their initial ADDED arrived; then a change.
    await Promise.all([json.next(1), table.next(1)]);
    const updated = await api.store.updateStatus(NODE, node, { ...node.status, runningTasks: [...SECRET_TASKS, "secret-launch-plan-r2-tail-99999999"] });
    await Promise.all([json.next(2), table.next(2)]);
    json.close();
    table.close();
    expect(json.events.map((e) => `${e.status} ${e.type}`)).toEqual(["200 ADDED", "200 MODIFIED"]);
    for (const e of json.events) expectTenantView(e.object);
    expect(json.events[1].object.status.runningTaskCount).toBe(3);
    expect(table.events.map((e) => `${e.type} ${e.object.kind}`)).toEqual(["ADDED Table", "MODIFIED Table"]);
    for (const e of table.events) expect(JSON.stringify(e)).not.toContain("secret-launch-plan");

    // Resumed from the log, with a selector on the hidden field: nothing matches what is not shown.
    const selector = encodeURIComponent(`status.runningTasks=${SECRET_TASKS.join(",")}`);
    const resumed = await watchToEnd(`${API_PREFIX}/edgenodes?watch=true&resourceVersion=${from}&timeoutSeconds=1`, tenant);
    expect(resumed.map((e) => e.type)).toEqual(["MODIFIED"]);
    expectTenantView(resumed[0].object);
    const probed = await watchToEnd(`${API_PREFIX}/edgenodes?watch=true&resourceVersion=1&fieldSelector=${selector}&timeoutSeconds=1`, tenant);
    expect(probed).toEqual([]);
    node = updated;
  });

  it("leaves the names to admins and to the node's own agent", async () => {
    const agent = (await api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
    const stored = (await api.store.get(NODE, undefined, "edge-1"))!;
    expect(stored.status.runningTasks.length).toBeGreaterThanOrEqual(SECRET_TASKS.length);
    for (const token of [api.adminToken, agent]) {
      const got = await request(api.app).get(`${API_PREFIX}/edgenodes/edge-1`).set(bearer(token)).expect(200);
      expect(got.body.status.runningTasks).toEqual(stored.status.runningTasks);
      expect(got.body.status.runningTaskCount).toBeUndefined();
      const listed = await request(api.app).get(`${API_PREFIX}/edgenodes`).set(bearer(token)).expect(200);
      expect(listed.body.items[0].status.runningTasks).toEqual(stored.status.runningTasks);
    }
  });
});

describe("an agent reading Models", () => {
  const model = (namespace: string, name: string) =>
    api.store.create(MODEL, {
      apiVersion: API_VERSION,
      metadata: { name, namespace },
      spec: { inputBytes: 10, accuracy: 0.5, layers: [{ name: "l", flops: 1, outputBytes: 1, memoryMiB: 1 }] },
    } as any);
  const task = async (namespace: string, name: string, owner: StoredObject, nodeName: string) =>
    api.store.create(TASK, {
      apiVersion: API_VERSION,
      metadata: { name, namespace, ownerReferences: [{ apiVersion: API_VERSION, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true }] },
      spec: { role: "serve", nodeName },
      status: { phase: "Running", attempt: 1 },
    } as any);

  it("reads only the Models its own node's unfinished tasks use, on GET, list and watch", async () => {
    await model("acme", "used-here");
    await model("acme", "unused");
    await model("rival", "used-elsewhere");
    await model("rival", "used-here");
    const svc = await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "svc", namespace: "acme" }, spec: { model: "used-here" } } as any);
    const rivalSvc = await api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "svc", namespace: "rival" }, spec: { model: "used-elsewhere" } } as any);
    const mine = await task("acme", "svc-r1-serve-1", svc, "edge-7");
    await task("rival", "svc-r1-serve-2", rivalSvc, "edge-8");
    const agent = (await api.tokens.mint({ role: "agent", nodeName: "edge-7" })).token;
    const modelPath = (ns: string, name: string) => `${API_PREFIX}/namespaces/${ns}/models/${name}`;

    // The cache is read without waiting: the task above may take a moment to count.
    await expect.poll(async () => (await request(api.app).get(modelPath("acme", "used-here")).set(bearer(agent))).status).toBe(200);
    await request(api.app)
      .get(`${modelPath("acme", "used-here")}?pretty=true`)
      .set(bearer(agent))
      .expect(200);
    for (const [ns, name] of [
      ["acme", "unused"],
      ["rival", "used-elsewhere"],
      ["rival", "used-here"],
      ["acme", "missing"],
    ] as const) {
      const refused = await request(api.app).get(modelPath(ns, name)).set(bearer(agent)).expect(404);
      expect(refused.body).toMatchObject({ kind: "Status", reason: "NotFound" });
      await request(api.app)
        .get(`${modelPath(ns, name)}?pretty=true`)
        .set(bearer(agent))
        .expect(404);
    }
    const all = await request(api.app).get(`${API_PREFIX}/models`).set(bearer(agent)).expect(200);
    expect(all.body.items.map((m: any) => `${m.metadata.namespace}/${m.metadata.name}`)).toEqual(["acme/used-here"]);
    const inRival = await request(api.app).get(`${API_PREFIX}/namespaces/rival/models`).set(bearer(agent)).expect(200);
    expect(inRival.body.items).toEqual([]);
    const table = await request(api.app).get(`${API_PREFIX}/models`).set(bearer(agent)).set("Accept", TABLE).expect(200);
    expect(table.body.rows.map((r: any) => r.cells[0])).toEqual(["used-here"]);
    const watched = await watchToEnd(`${API_PREFIX}/models?watch=true&timeoutSeconds=1`, agent);
    expect(watched.map((e) => `${e.type} ${e.object.metadata.namespace}/${e.object.metadata.name}`)).toEqual(["ADDED acme/used-here"]);

    // Once its task has finished, the model is no longer the node's to read.
    await api.store.updateStatus(TASK, mine, { phase: "Succeeded", attempt: 1 });
    await expect.poll(async () => (await request(api.app).get(modelPath("acme", "used-here")).set(bearer(agent))).status).toBe(404);
    expect((await request(api.app).get(`${API_PREFIX}/models`).set(bearer(agent)).expect(200)).body.items).toEqual([]);
    // Admins and the tenant itself read them as before.
    await request(api.app).get(modelPath("acme", "unused")).set(bearer(api.adminToken)).expect(200);
    await request(api.app).get(modelPath("acme", "unused")).set(bearer(tenant)).expect(200);
  });
});

describe("an agent reading another node's task (a participant finding its aggregator)", () => {
  const TJ = kindInfo("TrainingJob");
  const job = (namespace: string, name: string) =>
    api.store.create(TJ, { apiVersion: API_VERSION, metadata: { name, namespace }, spec: { model: "m", mode: "federated", data: { selector: {} } } } as any);
  const task = (namespace: string, name: string, owner: StoredObject, nodeName: string, role: string) =>
    api.store.create(TASK, {
      apiVersion: API_VERSION,
      metadata: { name, namespace, ownerReferences: [{ apiVersion: API_VERSION, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true }] },
      spec: { role, nodeName, env: { EIAAS_TRAINING_KEYS: '{"dev-9":"digest"}', EIAAS_TRAINING_TOKEN: "secret-token" }, template: { command: ["secret-cmd"] } },
      status: { phase: "Running", attempt: 1, endpoint: "10.0.0.7:4100" },
    } as any);

  it("reads the aggregator of a job its node takes part in, without env or template; nothing else of other nodes", async () => {
    const fl = await job("acme", "fl");
    const other = await job("acme", "other");
    const rival = await job("rival", "fl");
    const mine = await task("acme", "fl-r1-participant-a", fl, "dev-9", "participant");
    await task("acme", "fl-r1-participant-b", fl, "dev-10", "participant");
    await task("acme", "fl-r1-aggregator-c", fl, "edge-5", "aggregator");
    await task("acme", "other-r1-aggregator-d", other, "edge-5", "aggregator");
    await task("rival", "fl-r1-aggregator-e", rival, "edge-5", "aggregator");
    const agent = (await api.tokens.mint({ role: "agent", nodeName: "dev-9" })).token;
    const path = (ns: string, name: string) => `${API_PREFIX}/namespaces/${ns}/tasks/${name}`;

    // Cached GET and routed GET (a query string) answer the same peer view.
    await expect.poll(async () => (await request(api.app).get(path("acme", "fl-r1-aggregator-c")).set(bearer(agent))).status).toBe(200);
    for (const url of [path("acme", "fl-r1-aggregator-c"), `${path("acme", "fl-r1-aggregator-c")}?pretty=true`]) {
      const peer = (await request(api.app).get(url).set(bearer(agent)).expect(200)).body;
      expect(peer).toMatchObject({ kind: "Task", metadata: { name: "fl-r1-aggregator-c" }, spec: { nodeName: "edge-5", role: "aggregator" }, status: { phase: "Running", endpoint: "10.0.0.7:4100" } });
      expect(JSON.stringify(peer)).not.toMatch(/secret|digest|EIAAS_TRAINING|ownerReferences/);
    }
    // Not another job's aggregator, not another participant, not another tenant's, not in lists.
    for (const [ns, name] of [
      ["acme", "other-r1-aggregator-d"],
      ["acme", "fl-r1-participant-b"],
      ["rival", "fl-r1-aggregator-e"],
    ] as const) {
      await request(api.app).get(path(ns, name)).set(bearer(agent)).expect(404);
      await request(api.app)
        .get(`${path(ns, name)}?pretty=true`)
        .set(bearer(agent))
        .expect(404);
    }
    const listed = await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks`).set(bearer(agent)).expect(200);
    expect(listed.body.items.map((t: any) => t.metadata.name)).toEqual(["fl-r1-participant-a"]);
    await request(api.app)
      .get(`${path("acme", "fl-r1-aggregator-c")}/log`)
      .set(bearer(agent))
      .expect(404);
    // Nor write its status.
    const put = await request(api.app)
      .put(`${path("acme", "fl-r1-aggregator-c")}/status`)
      .set(bearer(agent))
      .send({ apiVersion: API_VERSION, kind: "Task", metadata: { name: "fl-r1-aggregator-c" }, status: { phase: "Failed", attempt: 1 } });
    expect(put.status).toBe(404);
    // Once its own participant task finished, the aggregator is no longer its to read.
    await api.store.updateStatus(TASK, mine, { phase: "Succeeded", attempt: 1 });
    await expect.poll(async () => (await request(api.app).get(path("acme", "fl-r1-aggregator-c")).set(bearer(agent))).status).toBe(404);
  });

  it("a gossip peer reads its neighbours' tasks (the plan's, named in their env), no other participant", async () => {
    const gj = await api.store.create(TJ, { apiVersion: API_VERSION, metadata: { name: "gj", namespace: "acme" }, spec: { model: "m", mode: "gossip", data: { selector: {} } } } as any);
    const peerTask = (name: string, nodeName: string, neighbours: string[]) =>
      api.store.create(TASK, {
        apiVersion: API_VERSION,
        metadata: { name, namespace: "acme", ownerReferences: [{ apiVersion: API_VERSION, kind: "TrainingJob", name: "gj", uid: gj.metadata.uid, controller: true }] },
        spec: {
          role: "participant",
          nodeName,
          env: { EIAAS_TRAINING_TOKEN: `secret-${nodeName}`, EIAAS_TRAINING_NEIGHBOURS: JSON.stringify(Object.fromEntries(neighbours.map((n) => [n, { task: `gj-${n}`, key: "a".repeat(64) }]))) },
        },
        status: { phase: "Running", attempt: 1, endpoint: `10.0.0.${nodeName.length}:4200` },
      } as any);
    // A ring of four: g1 – g2 – g3 – g4 – g1. g1's neighbours are g2 and g4, not g3.
    await peerTask("gj-g1", "g1", ["g2", "g4"]);
    await peerTask("gj-g2", "g2", ["g1", "g3"]);
    await peerTask("gj-g3", "g3", ["g2", "g4"]);
    await peerTask("gj-g4", "g4", ["g3", "g1"]);
    const agent = (await api.tokens.mint({ role: "agent", nodeName: "g1" })).token;
    const path = (name: string) => `${API_PREFIX}/namespaces/acme/tasks/${name}`;
    await expect.poll(async () => (await request(api.app).get(path("gj-g2")).set(bearer(agent))).status).toBe(200);
    for (const name of ["gj-g2", "gj-g4"]) {
      for (const url of [path(name), `${path(name)}?pretty=true`]) {
        const peer = (await request(api.app).get(url).set(bearer(agent)).expect(200)).body;
        expect(peer).toMatchObject({ spec: { role: "participant" }, status: { phase: "Running", endpoint: expect.any(String) } });
        expect(JSON.stringify(peer)).not.toMatch(/secret|EIAAS_TRAINING|ownerReferences/);
      }
    }
    await request(api.app).get(path("gj-g3")).set(bearer(agent)).expect(404);
    await request(api.app)
      .get(`${path("gj-g3")}?pretty=true`)
      .set(bearer(agent))
      .expect(404);
  });
});

describe("an agent reading another node's task (a split plan's head finding its tail)", () => {
  const ISVC = kindInfo("InferenceService");
  const service = (namespace: string, name: string) => api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name, namespace }, spec: { model: "m", clients: { selector: {} } } } as any);
  const task = (namespace: string, name: string, owner: StoredObject, nodeName: string, role: string) =>
    api.store.create(TASK, {
      apiVersion: API_VERSION,
      metadata: { name, namespace, ownerReferences: [{ apiVersion: API_VERSION, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true }] },
      spec: { role, nodeName, env: { EIAAS_MODEL: "m", SECRET: "tenant-secret" }, template: { command: ["secret-cmd"] } },
      status: { phase: "Running", attempt: 1, endpoint: "10.0.0.8:4200" },
    } as any);

  it("reads the tail of a service its node runs a head of, its endpoint only; not the service's other heads, nor other services' tails", async () => {
    const svc = await service("acme", "cam");
    const other = await service("acme", "other");
    const mine = await task("acme", "cam-r1-head-a", svc, "dev-20", "head");
    await task("acme", "cam-r1-head-b", svc, "dev-21", "head");
    await task("acme", "cam-r1-tail-c", svc, "edge-6", "tail");
    await task("acme", "other-r1-tail-d", other, "edge-6", "tail");
    const agent = (await api.tokens.mint({ role: "agent", nodeName: "dev-20" })).token;
    const path = (name: string) => `${API_PREFIX}/namespaces/acme/tasks/${name}`;

    await expect.poll(async () => (await request(api.app).get(path("cam-r1-tail-c")).set(bearer(agent))).status).toBe(200);
    const peer = (await request(api.app).get(path("cam-r1-tail-c")).set(bearer(agent)).expect(200)).body;
    expect(peer).toMatchObject({ spec: { nodeName: "edge-6", role: "tail" }, status: { phase: "Running", endpoint: "10.0.0.8:4200" } });
    expect(JSON.stringify(peer)).not.toMatch(/secret|EIAAS_MODEL/);
    for (const name of ["cam-r1-head-b", "other-r1-tail-d"]) await request(api.app).get(path(name)).set(bearer(agent)).expect(404);
    await api.store.updateStatus(TASK, mine, { phase: "Succeeded", attempt: 1 });
    await expect.poll(async () => (await request(api.app).get(path("cam-r1-tail-c")).set(bearer(agent))).status).toBe(404);
  });
});
