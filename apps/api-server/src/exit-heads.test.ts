// Early-exit heads (`PUT/GET .../models/{name}/artifact?exit=N`) through the real API on real
// Postgres: a head must read the cut tensor its exit follows (its input shape checked against the
// stored base graph before anything is kept), and the head of an exit removed from the Model's
// spec is deleted with its status entry (declaring the exit again does not bring it back).
import { createHash } from "node:crypto";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo } from "@eiaas/api";
import { GraphBuilder, importOnnxModel } from "@eiaas/onnx";
import { tinyCnnOnnx } from "@eiaas/testing";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const MODEL = kindInfo("Model");
const OCTET = "application/octet-stream";
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const modelPath = (name: string) => `${API_PREFIX}/namespaces/acme/models/${name}`;

// The base graph: tinyCnnOnnx's layers cut at relu1.out [1,4,8,8] (after layer 1) and flat [1,256] (after layer 2).
const base = tinyCnnOnnx({ seed: 11 });
const imported = importOnnxModel(base);

/** An exit head reading a cut tensor of `shape` (rank 4: pooled first), 10 classes. */
function head(shape: number[], seed: number): Uint8Array {
  const g = new GraphBuilder(`exit-${shape.join("x")}`, { seed });
  let x = g.input("features", shape);
  if (shape.length === 4) x = g.flatten("exit", g.globalAvgPool("exit/avgpool", x));
  x = g.linear("exit/fc", x, shape[1]!, 10);
  return g.build(x, [1, 10]);
}
const after1 = head([1, 4, 8, 8], 3);
const after2 = head([1, 256], 4);

const exits = (...layers: number[]) => layers.map((afterLayer) => ({ afterLayer, accuracy: 0.4 }));
const modelObject = (name: string, declared: number[]) => ({
  apiVersion: API_VERSION,
  kind: "Model",
  metadata: { name },
  spec: { inputBytes: imported.inputBytes, accuracy: 0.7, layers: imported.layers, exits: exits(...declared) },
});

let api: TestApi;
let tenant: string;
beforeAll(async () => {
  api = await startTestApi({ maxArtifactBytes: 8 * 1024 * 1024 });
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set(bearer(api.adminToken))
    .send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
  tenant = await api.tenantToken("acme");
});
afterAll(() => api?.close());

const create = async (name: string, declared: number[]) => (await request(api.app).post(`${API_PREFIX}/namespaces/acme/models`).set(bearer(tenant)).send(modelObject(name, declared)).expect(201)).body;
const put = (name: string, bytes: Uint8Array, exit?: number) =>
  request(api.app)
    .put(`${modelPath(name)}/artifact${exit ? `?exit=${exit}` : ""}`)
    .set(bearer(tenant))
    .set("Content-Type", OCTET)
    .send(Buffer.from(bytes));
const get = (name: string, exit: number) =>
  request(api.app)
    .get(`${modelPath(name)}/artifact?exit=${exit}`)
    .set(bearer(tenant));
const declare = (name: string, declared: number[]) =>
  request(api.app)
    .patch(modelPath(name))
    .set(bearer(tenant))
    .set("Content-Type", "application/merge-patch+json")
    .send({ spec: { exits: exits(...declared) } })
    .expect(200);
const storedExits = async (uid: string) =>
  (await api.pool.query<{ exit_after: number }>(`SELECT exit_after FROM model_artifacts WHERE model_uid = $1 ORDER BY exit_after`, [uid])).rows.map((r) => r.exit_after);
const listed = async (name: string) =>
  ((await request(api.app).get(modelPath(name)).set(bearer(tenant)).expect(200)).body.status?.exitArtifacts ?? []).map((e: { afterLayer: number }) => e.afterLayer);

describe("early-exit heads", () => {
  it("deletes the head of an exit removed from the Model's spec, and its status entry; declaring the exit again does not bring it back", async () => {
    const model = await create("pruned", [1, 2]);
    await put("pruned", base).expect(200);
    await put("pruned", after1, 1).expect(200);
    const stored = (await put("pruned", after2, 2).expect(200)).body;
    expect(stored.status.exitArtifacts.map((e: { afterLayer: number }) => e.afterLayer)).toEqual([1, 2]);
    const blobs = async () => (await api.pool.query(`SELECT count(*)::int AS n FROM model_artifact_blobs WHERE model_uid = $1`, [model.metadata.uid])).rows[0].n;
    expect(await blobs()).toBe(3);

    await declare("pruned", [1]);
    await expect.poll(() => listed("pruned")).toEqual([1]);
    expect(await storedExits(model.metadata.uid)).toEqual([0, 1]);
    expect(await blobs()).toBe(2);
    expect((await get("pruned", 2).expect(404)).body).toMatchObject({ kind: "Status", code: 404 });
    // The exit declared again: no head until one is uploaded (the old one is gone, not hidden).
    await declare("pruned", [1, 2]);
    expect((await get("pruned", 2).expect(404)).body.message).toMatch(/no head for its early exit after layer 2/);
    expect(await listed("pruned")).toEqual([1]);
    expect(sha256((await get("pruned", 1).buffer(true).parse(binaryParser).expect(200)).body)).toBe(sha256(after1));
  });

  it("refuses a head that does not read its exit's cut tensor with a 422 naming both shapes, before storing anything", async () => {
    const model = await create("shapes", [1, 2]);
    // Nothing to check against yet: the base graph comes first (eictl uploads it first).
    expect((await put("shapes", after1, 1).expect(409)).body).toMatchObject({ kind: "Status", reason: "Conflict", message: expect.stringMatching(/no base graph yet: upload it first/) });
    await put("shapes", base).expect(200);
    // The head after layer 1 (reads [1,4,8,8]) offered for the exit after layer 2 (the cut tensor "flat", [1,256]).
    const refused = (await put("shapes", after1, 2).expect(422)).body;
    expect(refused).toMatchObject({ kind: "Status", code: 422, reason: "Invalid", details: { causes: [{ field: "body", reason: "FieldValueInvalid" }] } });
    expect(refused.message).toMatch(/the exit head does not read the cut tensor "flat" of shape \[1,256\] after layer 2 \(spec\.layers\[1\]\.tensor\)/);
    expect(refused.message).toMatch(/\[1,4,8,8\]/);
    expect((await put("shapes", after2, 1).expect(422)).body.message).toMatch(/cut tensor "relu1\.out" of shape \[1,4,8,8\] after layer 1/);
    expect(await storedExits(model.metadata.uid)).toEqual([0]);
    expect(await listed("shapes")).toEqual([]);
    await get("shapes", 2).expect(404);
    // The right heads are taken.
    await put("shapes", after1, 1).expect(200);
    await put("shapes", after2, 2).expect(200);
    expect(await listed("shapes")).toEqual([1, 2]);
    // A layer table typed by hand names no tensor: nothing to check a head against.
    const bare = { ...modelObject("bare", [1]), spec: { ...modelObject("bare", [1]).spec, layers: imported.layers.map(({ tensor: _t, ...l }) => l) } };
    await request(api.app).post(`${API_PREFIX}/namespaces/acme/models`).set(bearer(tenant)).send(bare).expect(201);
    await put("bare", base).expect(200);
    expect((await put("bare", after1, 1).expect(422)).body).toMatchObject({ reason: "Invalid", details: { causes: [{ field: "spec.layers[0].tensor" }] } });
  });

  it("the periodic sweep deletes heads of undeclared exits that no write hook saw (a server stopped midway)", async () => {
    const model = await create("swept", [1]);
    await put("swept", base).expect(200);
    await put("swept", after1, 1).expect(200);
    // The spec written behind the API's back (as by a server that stopped before its clean-up).
    const current = (await api.store.get(MODEL, "acme", "swept"))!;
    await api.store.update(MODEL, current, { ...current, spec: { ...current.spec, exits: [] } });
    expect(await storedExits(model.metadata.uid)).toEqual([0, 1]);
    expect(await api.exitHeads.sweep()).toBeGreaterThanOrEqual(1);
    expect(await storedExits(model.metadata.uid)).toEqual([0]);
    await expect.poll(() => listed("swept")).toEqual([]);
  });

  it("a new base graph keeps the heads that read its cut tensors and deletes those that do not, with a Warning Event each", async () => {
    const model = await create("rebased", [1, 2]);
    await put("rebased", base).expect(200);
    await put("rebased", after1, 1).expect(200);
    await put("rebased", after2, 2).expect(200);
    // The same graph with other weights: both heads still read their cut tensors.
    const retrained = (await put("rebased", tinyCnnOnnx({ seed: 12 })).expect(200)).body;
    expect(retrained.status.artifact.sha256).toBe(sha256(tinyCnnOnnx({ seed: 12 })));
    expect(retrained.status.exitArtifacts.map((e: { afterLayer: number }) => e.afterLayer)).toEqual([1, 2]);
    // Each head is marked as checked against the graph it now reads (they were checked against the first one).
    expect(retrained.status.exitArtifacts.map((e: { checkedAgainst?: string }) => e.checkedAgainst)).toEqual([sha256(tinyCnnOnnx({ seed: 12 })), sha256(tinyCnnOnnx({ seed: 12 }))]);
    expect(await storedExits(model.metadata.uid)).toEqual([0, 1, 2]);

    // Re-imported from a graph whose first convolution has 8 channels: the cut after layer 1 is now
    // [1,8,8,8] (the head after it reads [1,4,8,8]); after layer 2 it is still [1,256].
    const g = new GraphBuilder("wider", { seed: 5 });
    let x = g.relu("relu1", g.conv("conv1", g.input("input", [1, 3, 8, 8]), { cin: 3, cout: 8, k: 3, pad: 1, bias: true }));
    x = g.flatten("flatten", g.relu("relu2", g.conv("conv2", x, { cin: 8, cout: 4, k: 3, pad: 1, bias: true })));
    const wider = g.build(g.linear("fc", x, 256, 10), [1, 10]);
    const layers = importOnnxModel(wider).layers;
    expect(layers.length).toBe(imported.layers.length);
    await request(api.app).patch(modelPath("rebased")).set(bearer(tenant)).set("Content-Type", "application/merge-patch+json").send({ spec: { layers } }).expect(200);
    const rebased = (await put("rebased", wider).expect(200)).body;
    expect(rebased.status.exitArtifacts.map((e: { afterLayer: number }) => e.afterLayer)).toEqual([2]);
    expect(await storedExits(model.metadata.uid)).toEqual([0, 2]);
    expect((await get("rebased", 1).expect(404)).body.message).toMatch(/no head for its early exit after layer 1/);
    expect(sha256((await get("rebased", 2).buffer(true).parse(binaryParser).expect(200)).body)).toBe(sha256(after2));
    const events = (await request(api.app).get(`${API_PREFIX}/namespaces/acme/events`).set(bearer(tenant)).expect(200)).body.items.filter(
      (e: { involvedObject: { uid?: string } }) => e.involvedObject.uid === model.metadata.uid,
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "Warning", reason: "ExitHeadRemoved" });
    expect(events[0].message).toMatch(/after layer 1 does not read the new base graph.*\[1,8,8,8\].*eictl model import --exit-head 1=HEAD\.onnx/);
    // A head that fits the new graph is taken again.
    await put("rebased", head([1, 8, 8, 8], 6), 1).expect(200);
  });

  it("the sweep checks heads nobody checked against the current base graph (a server stopped between storing it and checking them)", async () => {
    const model = await create("unchecked", [1, 2]);
    await put("unchecked", base).expect(200);
    const stored = (await put("unchecked", after1, 1).expect(200)).body;
    await put("unchecked", after2, 2).expect(200);
    expect(stored.status.exitArtifacts[0].checkedAgainst).toBe(sha256(base));
    // A base graph whose cut after layer 1 is [1,2,8,8] stored behind the API's back, with the layer
    // table of its import, and no check of the heads (the upload's request ended with its server).
    const g = new GraphBuilder("narrow", { seed: 8 });
    let x = g.relu("relu1", g.conv("conv1", g.input("input", [1, 3, 8, 8]), { cin: 3, cout: 2, k: 3, pad: 1, bias: true }));
    x = g.flatten("flatten", g.relu("relu2", g.conv("conv2", x, { cin: 2, cout: 4, k: 3, pad: 1, bias: true })));
    const narrow = g.build(g.linear("fc", x, 256, 10), [1, 10]);
    const current = (await api.store.get(MODEL, "acme", "unchecked"))!;
    await api.store.update(MODEL, current, { ...current, spec: { ...current.spec, layers: importOnnxModel(narrow).layers } });
    await api.artifacts.put(
      model.metadata.uid,
      (async function* () {
        yield narrow;
      })(),
      { maxBytes: 1 << 20 },
    );
    expect(await storedExits(model.metadata.uid)).toEqual([0, 1, 2]);
    expect(await api.exitHeads.sweep()).toBe(1);
    expect(await storedExits(model.metadata.uid)).toEqual([0, 2]);
    const after = (await request(api.app).get(modelPath("unchecked")).set(bearer(tenant)).expect(200)).body.status.exitArtifacts;
    expect(after).toEqual([expect.objectContaining({ afterLayer: 2, sha256: sha256(after2), checkedAgainst: sha256(narrow) })]);
    // Checked now: the next sweep has nothing to do.
    expect(await api.exitHeads.sweep()).toBe(0);
  });
});

/** Binary bodies come back as Buffers. */
function binaryParser(res: any, cb: (err: Error | null, body: Buffer) => void) {
  const chunks: Buffer[] = [];
  res.on("data", (c: Buffer) => chunks.push(c));
  res.on("end", () => cb(null, Buffer.concat(chunks)));
}
