// Endpoint ranking, discovery and dryRun plan from the API server's watch cache: with the cache
// warm they read no task row from Postgres, and they still answer what Postgres holds right after
// a write — one made through another API server too.
import pg from "pg";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { dryRunPlanner, postgresClusterState } from "./planning.js";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const TENANT = kindInfo("Tenant");
const NODE = kindInfo("EdgeNode");
const MODEL = kindInfo("Model");
const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");

let a: TestApi;
let b: TestApi;
let svc: StoredObject;

const LAYERS = [
  { name: "l1", flops: 4e8, outputBytes: 800000, memoryMiB: 1 },
  { name: "l2", flops: 1e8, outputBytes: 200000, memoryMiB: 1 },
  { name: "l3", flops: 6e8, outputBytes: 4000, memoryMiB: 1 },
];
const service = (name: string) => ({
  apiVersion: API_VERSION,
  kind: "InferenceService",
  metadata: { name, namespace: "acme" },
  spec: { model: "m", clients: { selector: { matchLabels: { client: "cam" } }, requestsPerSecond: 1 }, resources: { cpu: 100, memoryMiB: 64 } },
});

beforeAll(async () => {
  a = await startTestApi({ keepDatabase: true });
  // Another API server on the same database: its own pool, informer and cache.
  b = await startTestApi({ database: a.db });
  const s = a.store;
  await s.create(TENANT, { apiVersion: API_VERSION, metadata: { name: "acme" }, spec: {} } as any);
  await s.create(NODE, {
    apiVersion: API_VERSION,
    metadata: { name: "e1", labels: { tier: "edge" } },
    spec: { tier: "edge", hardware: "k40", capacity: { cpu: 1000, memoryMiB: 16384 }, compute: { gflops: 1000 }, network: { uplinkMbps: 100, downlinkMbps: 100, rttMs: 10 } },
    status: { phase: "Ready", conditions: [{ type: "Ready", status: "True" }] },
  } as any);
  await s.create(NODE, {
    apiVersion: API_VERSION,
    metadata: { name: "d1", labels: { tier: "device", client: "cam" } },
    spec: { tier: "device", parent: "e1", hardware: "tk1", capacity: { cpu: 4000, memoryMiB: 2048 }, compute: { gflops: 20 }, network: { uplinkMbps: 40, downlinkMbps: 40, rttMs: 2 } },
    status: { phase: "Ready", conditions: [{ type: "Ready", status: "True" }] },
  } as any);
  await s.create(MODEL, { apiVersion: API_VERSION, metadata: { name: "m", namespace: "acme" }, spec: { inputBytes: 600000, accuracy: 0.8, capabilities: ["vision"], layers: LAYERS } } as any);
  const created = await s.create(ISVC, service("cam") as any);
  // As the scheduler would have placed it: a head on the device, its tail on the edge server.
  svc = await s.updateStatus(ISVC, created, {
    phase: "Running",
    planRevision: 1,
    plan: { clients: [{ client: "d1", headNode: "d1", tailNode: "e1", predicted: { latencyMs: 40 } }] },
    endpoints: [{ node: "e1", role: "tail", task: "cam-r1-tail", address: "10.0.0.2:9000" }],
  });
  await s.create(TASK, {
    apiVersion: API_VERSION,
    metadata: {
      name: "cam-r1-head",
      namespace: "acme",
      labels: { "eiaas.io/plan-revision": "1" },
      ownerReferences: [{ apiVersion: API_VERSION, kind: "InferenceService", name: "cam", uid: svc.metadata.uid, controller: true }],
    },
    spec: { nodeName: "d1", role: "head", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } },
    status: { phase: "Scheduled", attempt: 1 },
  } as any);
  // Nothing else reads in the background while queries are counted.
  await a.propagation.stop();
  await b.propagation.stop();
}, 60_000);

afterAll(async () => {
  await b?.close();
  await a?.close();
});

/** The text of every statement any pg client of this process sends while `f` runs. */
async function statementsDuring<T>(f: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const statements: string[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const q = args[0] as string | { text?: string };
    statements.push(typeof q === "string" ? q : (q?.text ?? ""));
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    return { result: await f(), statements };
  } finally {
    pg.Client.prototype.query = original;
  }
}

const readsTasks = (statements: string[]) => statements.filter((s) => /\btasks\b/i.test(s));

describe("planning reads from the watch cache", () => {
  const admin = () => ({ Authorization: `Bearer ${a.adminToken}` });
  const endpoints = () => request(a.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices/cam/endpoints?client=d1`).set(admin()).expect(200);
  const discovery = () => request(a.app).get(`${API_PREFIX}/namespaces/acme/discovery?capability=vision&client=d1`).set(admin()).expect(200);
  const dryRun = () => request(a.app).post(`${API_PREFIX}/namespaces/acme/inferenceservices?dryRun=All&planPreview=true`).set(admin()).send(service("preview")).expect(201);

  it("answers /endpoints, /discovery and dryRun without reading the task table, and sees another API server's writes at once", async () => {
    // Warm: the head is not running yet, so the client has no entry of its own.
    const before = await endpoints();
    expect(before.body.items.map((e: any) => e.task)).toEqual(["cam-r1-tail"]);
    const planBefore = (await dryRun()).body.status;

    // Through the other API server: the head runs; a task of another workload fills the device.
    const head = (await b.store.get(TASK, "acme", "cam-r1-head"))!;
    await request(b.app)
      .put(`${API_PREFIX}/namespaces/acme/tasks/cam-r1-head/status`)
      .set({ Authorization: `Bearer ${b.adminToken}` })
      .send({ ...head, status: { ...head.status, phase: "Running", endpoint: "10.0.0.1:9000" } })
      .expect(200);
    await request(b.app)
      .post(`${API_PREFIX}/namespaces/acme/tasks`)
      .set({ Authorization: `Bearer ${b.adminToken}` })
      .send({ apiVersion: API_VERSION, kind: "Task", metadata: { name: "hog", namespace: "acme" }, spec: { nodeName: "d1", role: "serve", resources: { cpu: 4000, memoryMiB: 64, gpu: 0 } } })
      .expect(201);

    const { result, statements } = await statementsDuring(async () => ({ endpoints: await endpoints(), discovery: await discovery(), dryRun: await dryRun() }));
    expect(readsTasks(statements)).toEqual([]);
    // The entry the other server's write made: the client's own head, marked.
    expect(result.endpoints.body.items.find((e: any) => e.entry)).toMatchObject({ node: "d1", role: "head", task: "cam-r1-head", address: "10.0.0.1:9000" });
    expect(result.discovery.body.items.map((e: any) => [e.service, e.task])).toEqual([["cam", "cam-r1-tail"]]);
    // The plan a read of Postgres gives, now that the device is full, and not the one before (all on it).
    const fromPostgres = await dryRunPlanner(postgresClusterState(a.pool), a.store)(ISVC, result.dryRun.body);
    expect(result.dryRun.body.status).toEqual(fromPostgres);
    expect(result.dryRun.body.status).not.toEqual(planBefore);
  });
});
