import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, KINDS, type KindInfo } from "@eiaas/api";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

let api: TestApi;
const NS = "acme";

beforeAll(async () => {
  api = await startTestApi();
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set(auth())
    .send({ apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name: NS }, spec: {} })
    .expect(201);
});
afterAll(() => api.close());

function auth(token?: string) {
  return { Authorization: `Bearer ${token ?? api.adminToken}` };
}

/** A valid object of each kind (the builders of the table below). */
function sample(kind: KindInfo, name: string): Record<string, unknown> {
  const base = { apiVersion: "eiaas.io/v1alpha1", kind: kind.kind, metadata: { name, labels: { app: "demo" } } };
  switch (kind.kind) {
    case "EdgeNode":
      return { ...base, spec: { tier: "edge", capacity: { cpu: 4000, memoryMiB: 8192 } } };
    case "Tenant":
      return { ...base, spec: { weight: 2 } };
    case "Model":
      return { ...base, spec: { inputBytes: 600000, accuracy: 0.7, layers: [{ name: "l1", flops: 1e9, outputBytes: 1000 }] } };
    case "ModelProfile":
      return { ...base, spec: { model: "m", nodeName: "edge-1" } };
    case "InferenceService":
      return { ...base, spec: { model: "m", clients: { selector: { matchLabels: { tier: "device" } } } } };
    case "TrainingJob":
      return { ...base, spec: { model: "m", mode: "federated", data: { selector: { matchLabels: { data: "x" } } } } };
    case "Task":
      return { ...base, spec: { role: "serve", nodeName: "edge-1" } };
    case "Event":
      return { ...base, involvedObject: { kind: "Model", name: "m" }, reason: "Tested", message: "hello" };
  }
}

function collection(kind: KindInfo): string {
  return kind.namespaced ? `${API_PREFIX}/namespaces/${NS}/${kind.plural}` : `${API_PREFIX}/${kind.plural}`;
}

function statusOf(kind: KindInfo): Record<string, unknown> {
  switch (kind.kind) {
    case "EdgeNode":
      return { phase: "Ready", conditions: [{ type: "Ready", status: "True", reason: "Heartbeat", message: "" }] };
    case "Tenant":
      return { phase: "Active", dominantShare: 0.25 };
    case "Task":
      return { phase: "Running", attempt: 1 };
    case "TrainingJob":
    case "InferenceService":
      return { phase: "Pending" };
    default:
      return { phase: "Ready" };
  }
}

describe.each(KINDS.map((k) => [k.kind, k] as const))("%s: every verb", (_name, kind) => {
  const name = `${kind.singular}-a`;
  const path = () => `${collection(kind)}/${name}`;

  it("create → 201 with server-set metadata; duplicate → 409 AlreadyExists", async () => {
    const res = await request(api.app).post(collection(kind)).set(auth()).send(sample(kind, name)).expect(201);
    expect(res.body.metadata).toMatchObject({ name, generation: 1, labels: { app: "demo" } });
    expect(res.body.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.metadata.resourceVersion).toMatch(/^\d+$/);
    const dup = await request(api.app).post(collection(kind)).set(auth()).send(sample(kind, name)).expect(409);
    expect(dup.body).toMatchObject({ kind: "Status", reason: "AlreadyExists", code: 409 });
  });

  it("get → 200; missing → 404 Status", async () => {
    const res = await request(api.app).get(path()).set(auth()).expect(200);
    expect(res.body.kind).toBe(kind.kind);
    const missing = await request(api.app)
      .get(`${collection(kind)}/nope`)
      .set(auth())
      .expect(404);
    expect(missing.body).toMatchObject({ kind: "Status", status: "Failure", reason: "NotFound" });
  });

  it("list with label and field selectors, limit and continue", async () => {
    await request(api.app)
      .post(collection(kind))
      .set(auth())
      .send({ ...sample(kind, `${kind.singular}-b`), metadata: { name: `${kind.singular}-b`, labels: { app: "other" } } })
      .expect(201);
    const all = await request(api.app).get(collection(kind)).set(auth()).expect(200);
    expect(all.body.kind).toBe(`${kind.kind}List`);
    expect(all.body.metadata.resourceVersion).toMatch(/^\d+$/);
    const names = all.body.items.map((o: any) => o.metadata.name);
    expect(names).toEqual(expect.arrayContaining([name, `${kind.singular}-b`]));
    const demo = await request(api.app).get(collection(kind)).query({ labelSelector: "app=demo" }).set(auth()).expect(200);
    expect(demo.body.items.map((o: any) => o.metadata.name)).toContain(name);
    expect(demo.body.items.map((o: any) => o.metadata.name)).not.toContain(`${kind.singular}-b`);
    const byField = await request(api.app)
      .get(collection(kind))
      .query({ fieldSelector: `metadata.name=${kind.singular}-b` })
      .set(auth())
      .expect(200);
    expect(byField.body.items).toHaveLength(1);
    const page1 = await request(api.app).get(collection(kind)).query({ limit: "1" }).set(auth()).expect(200);
    expect(page1.body.items).toHaveLength(1);
    expect(page1.body.metadata.continue).toBeTruthy();
    const page2 = await request(api.app).get(collection(kind)).query({ limit: "1", continue: page1.body.metadata.continue }).set(auth()).expect(200);
    expect(page2.body.items[0].metadata.name).not.toBe(page1.body.items[0].metadata.name);
  });

  it("replace with the current resourceVersion → 200; with a stale one → 409 Conflict", async () => {
    const cur = (await request(api.app).get(path()).set(auth()).expect(200)).body;
    const next = { ...sample(kind, name), metadata: { ...cur.metadata, labels: { app: "demo", v: "2" } } };
    const ok = await request(api.app).put(path()).set(auth()).send(next).expect(200);
    expect(ok.body.metadata.labels.v).toBe("2");
    const stale = await request(api.app).put(path()).set(auth()).send(next).expect(409);
    expect(stale.body).toMatchObject({ reason: "Conflict", code: 409 });
  });

  it("merge patch → 200 and keeps the rest; strategic merge → 415", async () => {
    const res = await request(api.app)
      .patch(path())
      .set(auth())
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ metadata: { labels: { patched: "yes" } } }))
      .expect(200);
    expect(res.body.metadata.labels).toMatchObject({ app: "demo", v: "2", patched: "yes" });
    await request(api.app).patch(path()).set(auth()).set("Content-Type", "application/strategic-merge-patch+json").send("{}").expect(415);
  });

  it("dryRun=All create validates and stores nothing", async () => {
    const res = await request(api.app)
      .post(collection(kind))
      .query({ dryRun: "All" })
      .set(auth())
      .send(sample(kind, `${kind.singular}-dry`))
      .expect(201);
    expect(res.body.metadata.name).toBe(`${kind.singular}-dry`);
    await request(api.app)
      .get(`${collection(kind)}/${kind.singular}-dry`)
      .set(auth())
      .expect(404);
  });

  it("delete → 200 then 404", async () => {
    await request(api.app).delete(path()).set(auth()).send({ propagationPolicy: "Background" }).expect(200);
    if (kind.kind === "Tenant") return; // finalizer: covered below
    await request(api.app).get(path()).set(auth()).expect(404);
  });
});

describe.each(KINDS.filter((k) => k.hasStatus).map((k) => [k.kind, k] as const))("%s: status subresource", (_name, kind) => {
  const name = `${kind.singular}-s`;
  const path = () => `${collection(kind)}/${name}`;
  beforeAll(async () => {
    await request(api.app).post(collection(kind)).set(auth()).send(sample(kind, name)).expect(201);
  });

  it("status subresource: PUT and PATCH write status only", async () => {
    const cur = (await request(api.app).get(path()).set(auth()).expect(200)).body;
    const res = await request(api.app)
      .put(`${path()}/status`)
      .set(auth())
      .send({ ...cur, status: statusOf(kind) })
      .expect(200);
    expect(res.body.status).toMatchObject(statusOf(kind));
    expect(res.body.metadata.generation).toBe(cur.metadata.generation);
    const patched = await request(api.app)
      .patch(`${path()}/status`)
      .set(auth())
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ status: { observedGeneration: 7 } }))
      .expect(200);
    expect(patched.body.status.observedGeneration).toBe(7);
  });
});
