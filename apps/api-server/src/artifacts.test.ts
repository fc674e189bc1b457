// Model artifacts (the ONNX file of a Model) through the real API on real Postgres, in both
// backends: Postgres chunks (the default) and a content-addressed directory (EIAAS_ARTIFACT_DIR).
// Round trips, the digest in status.artifact, ETag/304, HEAD, refusals (413, 415, 422, 404, 403),
// who may read what (tenants, agents), and a Model deleted and created again.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { GraphBuilder, importOnnxModel } from "@eiaas/onnx";
import { tinyCnnOnnx } from "@eiaas/testing";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");
const OCTET = "application/octet-stream";
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const modelPath = (ns: string, name: string) => `${API_PREFIX}/namespaces/${ns}/models/${name}`;
const artifactPath = (ns: string, name: string) => `${modelPath(ns, name)}/artifact`;

/** A small model's layer table (what eictl model import would write). */
const modelObject = (name: string) => ({
  apiVersion: API_VERSION,
  kind: "Model",
  metadata: { name },
  spec: {
    inputBytes: 768,
    accuracy: 0.5,
    layers: [
      { name: "conv", flops: 1000, outputBytes: 1024, memoryMiB: 0.01 },
      { name: "fc", flops: 100, outputBytes: 40, memoryMiB: 0.01 },
    ],
  },
});

/** Binary bodies come back as Buffers. */
const binary = (res: any, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on("data", (c: Buffer) => chunks.push(c));
  res.on("end", () => cb(null, Buffer.concat(chunks)));
};

/** PUT with a chunked body (no Content-Length) over a real socket; answers status and parsed body. */
function putChunked(base: string, path: string, token: string, pieces: Uint8Array[]): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method: "PUT", headers: { ...bearer(token), "Content-Type": OCTET, "Transfer-Encoding": "chunked" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", reject);
    const write = (i: number) => {
      if (i === pieces.length) return void req.end();
      if (req.destroyed) return;
      req.write(pieces[i], () => setImmediate(() => write(i + 1)));
    };
    write(0);
  });
}

interface Backend {
  label: string;
  api: TestApi;
  base: string;
  tenant: string;
  rival: string;
  dir?: string;
}

async function startBackend(label: string, dir?: string): Promise<Backend> {
  const api = await startTestApi({ maxArtifactBytes: 8 * 1024 * 1024, ...(dir ? { artifactDir: dir } : {}) });
  for (const name of ["acme", "rival"]) {
    await request(api.app).post(`${API_PREFIX}/tenants`).set(bearer(api.adminToken)).send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name } }).expect(201);
  }
  await request(api.app).post(`${API_PREFIX}/namespaces/rival/models`).set(bearer(api.adminToken)).send(modelObject("theirs")).expect(201);
  return { label, api, base: await api.listen(), tenant: await api.tenantToken("acme"), rival: await api.tenantToken("rival"), ...(dir ? { dir } : {}) };
}

const dir = mkdtempSync(join(tmpdir(), "eiaas-artifacts-"));
const backends: Backend[] = [];
beforeAll(async () => {
  backends.push(await startBackend("postgres"), await startBackend("directory", dir));
});
afterAll(async () => {
  for (const b of backends) await b.api.close();
  rmSync(dir, { recursive: true, force: true });
});

async function createModel(b: Backend, name: string): Promise<StoredObject> {
  return (await request(b.api.app).post(`${API_PREFIX}/namespaces/acme/models`).set(bearer(b.tenant)).send(modelObject(name)).expect(201)).body;
}

function upload(b: Backend, name: string, bytes: Uint8Array, token = b.tenant) {
  return request(b.api.app).put(artifactPath("acme", name)).set(bearer(token)).set("Content-Type", OCTET).send(Buffer.from(bytes));
}

function download(b: Backend, ns: string, name: string, token: string) {
  return request(b.api.app).get(artifactPath(ns, name)).set(bearer(token)).buffer(true).parse(binary);
}

async function blobCount(b: Backend): Promise<number> {
  const r = await b.api.pool.query(`SELECT count(*)::int AS n FROM model_artifact_blobs`);
  return r.rows[0].n;
}

describe.each(["postgres", "directory"])("model artifacts (%s)", (label) => {
  const b = () => backends.find((x) => x.label === label)!;

  it("stores an upload larger than the JSON body limit, records its digest in status, and serves it back (ETag, 304, HEAD)", async () => {
    await createModel(b(), "cnn");
    // ~5 MB: many 1 MiB chunks, and five times the JSON body limit of the harness (1 MiB).
    const bytes = tinyCnnOnnx({ classes: 5000 });
    const digest = sha256(bytes);
    const put = await upload(b(), "cnn", bytes).expect(200);
    expect(put.body.status.artifact).toMatchObject({ sha256: digest, sizeBytes: bytes.length, format: "onnx" });
    expect(Date.parse(put.body.status.artifact.uploadedAt)).not.toBeNaN();
    // The object stays small: the bytes are not in it.
    const model = await request(b().api.app)
      .get(`${modelPath("acme", "cnn")}?pretty=false`)
      .set(bearer(b().tenant))
      .expect(200);
    expect(model.body.status.artifact.sha256).toBe(digest);
    expect(model.text.length).toBeLessThan(4096);

    const got = await download(b(), "acme", "cnn", b().tenant).expect(200);
    expect(got.headers["content-type"]).toBe(OCTET);
    expect(got.headers.etag).toBe(`"${digest}"`);
    expect(Number(got.headers["content-length"])).toBe(bytes.length);
    expect(sha256(got.body)).toBe(digest);

    await request(b().api.app).get(artifactPath("acme", "cnn")).set(bearer(b().tenant)).set("If-None-Match", `"${digest}"`).expect(304);
    await request(b().api.app).get(artifactPath("acme", "cnn")).set(bearer(b().tenant)).set("If-None-Match", `"other", W/"${digest}"`).expect(304);
    await request(b().api.app)
      .get(artifactPath("acme", "cnn"))
      .set(bearer(b().tenant))
      .set("If-None-Match", `"${"0".repeat(64)}"`)
      .expect(200);
    const head = await request(b().api.app).head(artifactPath("acme", "cnn")).set(bearer(b().tenant)).expect(200);
    expect(head.headers.etag).toBe(`"${digest}"`);
    expect(Number(head.headers["content-length"])).toBe(bytes.length);

    // A new upload replaces the old one; the old Postgres blob goes with it.
    const smaller = tinyCnnOnnx({ classes: 20, seed: 2 });
    expect((await upload(b(), "cnn", smaller).expect(200)).body.status.artifact.sha256).toBe(sha256(smaller));
    expect(sha256((await download(b(), "acme", "cnn", b().tenant).expect(200)).body)).toBe(sha256(smaller));
    if (label === "postgres") expect(await blobCount(b())).toBe(1);
  });

  it("refuses what is not an ONNX file (422), another media type (415), too large (413), and keeps the artifact it had", async () => {
    await createModel(b(), "refusals");
    const good = tinyCnnOnnx({ classes: 30, seed: 3 });
    await upload(b(), "refusals", good).expect(200);
    const blobs = await blobCount(b());

    const garbage = await upload(b(), "refusals", new TextEncoder().encode("definitely not a protobuf, nor a model")).expect(422);
    expect(garbage.body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422, details: { causes: [{ field: "body" }] } });
    expect(garbage.body.message).toMatch(/not an ONNX model|ends inside/);
    const truncated = await upload(b(), "refusals", good.subarray(0, good.length - 100)).expect(422);
    expect(truncated.body.message).toMatch(/truncated/);
    const empty = await upload(b(), "refusals", new Uint8Array()).expect(422);
    expect(empty.body.message).toMatch(/empty/);
    const json = await request(b().api.app).put(artifactPath("acme", "refusals")).set(bearer(b().tenant)).set("Content-Type", "application/json").send({ a: 1 }).expect(415);
    expect(json.body).toMatchObject({ kind: "Status", reason: "UnsupportedMediaType" });
    await request(b().api.app).put(artifactPath("acme", "refusals")).set(bearer(b().tenant)).set("Content-Type", "text/plain").send("x").expect(415);
    await request(b().api.app).put(artifactPath("acme", "refusals")).set(bearer(b().tenant)).set("Content-Type", OCTET).set("Content-Encoding", "gzip").send(Buffer.from(good)).expect(415);

    // Too large: announced by Content-Length (refused before reading), or found while streaming.
    const big = tinyCnnOnnx({ classes: 9000 });
    expect(big.length).toBeGreaterThan(8 * 1024 * 1024);
    const announced = await upload(b(), "refusals", big).expect(413);
    expect(announced.body).toMatchObject({ kind: "Status", reason: "RequestEntityTooLarge", code: 413 });
    // Streamed: refused at the limit while the client is still sending (twice the limit), and
    // the client still reads the answer.
    const huge = tinyCnnOnnx({ classes: 16000 });
    const pieces = Array.from({ length: Math.ceil(huge.length / 65536) }, (_, i) => huge.subarray(i * 65536, (i + 1) * 65536));
    const streamed = await putChunked(b().base, artifactPath("acme", "refusals"), b().tenant, pieces);
    expect(streamed.status).toBe(413);
    expect(streamed.body.message).toMatch(/larger than the limit/);

    // Nothing of the refused uploads was kept; the artifact is the one stored before.
    expect(await blobCount(b())).toBe(blobs);
    const got = await download(b(), "acme", "refusals", b().tenant).expect(200);
    expect(sha256(got.body)).toBe(sha256(good));
    if (b().dir) expect(readdirSync(join(b().dir!, "tmp"))).toEqual([]);
  });

  it("answers 404 for a missing Model, a Model without artifact, and another tenant's Model", async () => {
    const bytes = tinyCnnOnnx({ seed: 4 });
    expect((await upload(b(), "missing", bytes).expect(404)).body).toMatchObject({ kind: "Status", reason: "NotFound" });
    await createModel(b(), "empty");
    expect((await download(b(), "acme", "empty", b().tenant).expect(404)).body.toString()).toMatch(/has no artifact/);
    // rival/theirs exists: acme's token sees neither it nor its namespace.
    await request(b().api.app).put(artifactPath("rival", "theirs")).set(bearer(b().tenant)).set("Content-Type", OCTET).send(Buffer.from(bytes)).expect(404);
    await request(b().api.app).put(artifactPath("rival", "theirs")).set(bearer(b().rival)).set("Content-Type", OCTET).send(Buffer.from(bytes)).expect(200);
    await download(b(), "rival", "theirs", b().tenant).expect(404);
    expect(sha256((await download(b(), "rival", "theirs", b().rival).expect(200)).body)).toBe(sha256(bytes));
    expect(sha256((await download(b(), "rival", "theirs", b().api.adminToken).expect(200)).body)).toBe(sha256(bytes));
  });

  it("lets an agent read the artifacts of its node's unfinished tasks' Models only, and write none", async () => {
    await createModel(b(), "served");
    await createModel(b(), "other");
    const bytes = tinyCnnOnnx({ seed: 5 });
    await upload(b(), "served", bytes).expect(200);
    await upload(b(), "other", tinyCnnOnnx({ seed: 6 })).expect(200);
    const svc = await b().api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "svc", namespace: "acme" }, spec: { model: "served" } } as any);
    const task = await b().api.store.create(TASK, {
      apiVersion: API_VERSION,
      metadata: { name: "svc-r1-serve-1", namespace: "acme", ownerReferences: [{ apiVersion: API_VERSION, kind: "InferenceService", name: "svc", uid: svc.metadata.uid, controller: true }] },
      spec: { role: "serve", nodeName: "edge-1", layers: { from: 1, to: 2 } },
      status: { phase: "Running", attempt: 1 },
    } as any);
    const mine = (await b().api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
    const stranger = (await b().api.tokens.mint({ role: "agent", nodeName: "edge-2" })).token;

    // The watch cache is read without waiting: the task may take a moment to count.
    await expect.poll(async () => (await download(b(), "acme", "served", mine)).status).toBe(200);
    expect(sha256((await download(b(), "acme", "served", mine).expect(200)).body)).toBe(sha256(bytes));
    // Another Model of the same tenant, or the same Model from another node: as if it did not exist.
    expect((await download(b(), "acme", "other", mine).expect(404)).body.toString()).toMatch(/not found/);
    await download(b(), "acme", "served", stranger).expect(404);
    await request(b().api.app).head(artifactPath("acme", "served")).set(bearer(stranger)).expect(404);
    // No agent writes an artifact, not even of its own task's Model.
    const write = await request(b().api.app).put(artifactPath("acme", "served")).set(bearer(mine)).set("Content-Type", OCTET).send(Buffer.from(bytes)).expect(403);
    expect(write.body).toMatchObject({ kind: "Status", reason: "Forbidden" });
    // Once the task is finished, the agent reads it no more.
    await b().api.store.updateStatus(TASK, task, { phase: "Succeeded", attempt: 1 });
    await expect.poll(async () => (await download(b(), "acme", "served", mine)).status).toBe(404);
    // A bootstrap token reads nothing.
    const bootstrap = (await b().api.tokens.mint({ role: "bootstrap", name: `boot-${label}` })).token;
    expect([401, 403]).toContain((await download(b(), "acme", "served", bootstrap)).status);
  });

  it("stores an early exit's head apart (?exit=N) with its digest in status.exitArtifacts, for declared exits only, under the same access rules", async () => {
    // The imported layer table (the exit's head is checked against the cut tensor after layer 1,
    // relu1.out [1,4,8,8]), and a head that reads it.
    const base = tinyCnnOnnx({ seed: 11 });
    const { inputBytes, layers } = importOnnxModel(base);
    const withExit = { ...modelObject("exits"), spec: { inputBytes, accuracy: 0.5, layers, exits: [{ afterLayer: 1, accuracy: 0.4 }] } };
    await request(b().api.app).post(`${API_PREFIX}/namespaces/acme/models`).set(bearer(b().tenant)).send(withExit).expect(201);
    const g = new GraphBuilder("tiny-exit1", { seed: 12 });
    const head = g.build(g.linear("exit/fc", g.flatten("exit", g.globalAvgPool("exit/avgpool", g.input("features", [1, 4, 8, 8]))), 4, 3), [1, 3]);
    const put = (query: string, bytes: Uint8Array, token = b().tenant) =>
      request(b().api.app)
        .put(`${artifactPath("acme", "exits")}${query}`)
        .set(bearer(token))
        .set("Content-Type", OCTET)
        .send(Buffer.from(bytes));
    const get = (query: string, token = b().tenant) =>
      request(b().api.app)
        .get(`${artifactPath("acme", "exits")}${query}`)
        .set(bearer(token))
        .buffer(true)
        .parse(binary);
    await upload(b(), "exits", base).expect(200);
    // No head uploaded yet: 404 saying how to upload one; an exit the Model does not declare: 404; not a layer number: 400.
    expect(JSON.parse((await get("?exit=1").expect(404)).body.toString()).message).toMatch(/no head for its early exit after layer 1: upload one with eictl model import --exit-head 1=HEAD\.onnx/);
    expect((await put("?exit=2", head).expect(404)).body.message).toMatch(/declares no early exit after layer 2/);
    for (const bad of ["?exit=0", "?exit=abc", "?exit=1.5", "?exit=-1"]) expect((await put(bad, head).expect(400)).body).toMatchObject({ kind: "Status", reason: "BadRequest" });
    await put("?exit=1", new TextEncoder().encode("not onnx")).expect(422);

    const stored = (await put("?exit=1", head).expect(200)).body;
    expect(stored.status.artifact.sha256).toBe(sha256(base));
    expect(stored.status.exitArtifacts).toEqual([{ afterLayer: 1, sha256: sha256(head), sizeBytes: head.length, format: "onnx", uploadedAt: expect.any(String), checkedAgainst: sha256(base) }]);
    const got = await get("?exit=1").expect(200);
    expect(got.headers.etag).toBe(`"${sha256(head)}"`);
    expect(sha256(got.body)).toBe(sha256(head));
    expect(sha256((await get("").expect(200)).body)).toBe(sha256(base));
    // Another tenant sees nothing; an agent only for its own tasks' Models, and writes none.
    await get("?exit=1", b().rival).expect(404);
    const svc = await b().api.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name: "svc-exits", namespace: "acme" }, spec: { model: "exits" } } as any);
    await b().api.store.create(TASK, {
      apiVersion: API_VERSION,
      metadata: {
        name: "svc-exits-r1-tail-1",
        namespace: "acme",
        ownerReferences: [{ apiVersion: API_VERSION, kind: "InferenceService", name: "svc-exits", uid: svc.metadata.uid, controller: true }],
      },
      spec: { role: "tail", nodeName: "edge-3", layers: { from: 2, to: 2 }, env: { EIAAS_EXIT_AFTER_LAYER: "1" } },
      status: { phase: "Running", attempt: 1 },
    } as any);
    const mine = (await b().api.tokens.mint({ role: "agent", nodeName: "edge-3" })).token;
    const stranger = (await b().api.tokens.mint({ role: "agent", nodeName: "edge-4" })).token;
    await expect.poll(async () => (await get("?exit=1", mine)).status).toBe(200);
    expect(sha256((await get("?exit=1", mine).expect(200)).body)).toBe(sha256(head));
    await get("?exit=1", stranger).expect(404);
    await put("?exit=1", head, mine).expect(403);
  });

  it("never shows a Model deleted and created again the old bytes", async () => {
    await createModel(b(), "reborn");
    const bytes = tinyCnnOnnx({ classes: 2000, seed: 7 });
    await upload(b(), "reborn", bytes).expect(200);
    const before = await blobCount(b());
    await request(b().api.app).delete(modelPath("acme", "reborn")).set(bearer(b().tenant)).expect(200);
    const again = await createModel(b(), "reborn");
    expect(again.status?.artifact).toBeUndefined();
    await expect.poll(async () => (await download(b(), "acme", "reborn", b().tenant)).status).toBe(404);
    // The rows went with the Model (cascade); the directory's file goes at the next collection.
    const rows = await b().api.pool.query(`SELECT count(*)::int AS n FROM model_artifacts WHERE sha256 = $1`, [sha256(bytes)]);
    expect(rows.rows[0].n).toBe(0);
    if (label === "postgres") expect(await blobCount(b())).toBe(before - 1);
    if (b().dir) {
      const file = join(b().dir!, "sha256", sha256(bytes).slice(0, 2), sha256(bytes));
      expect(existsSync(file)).toBe(true);
      // Fresh files are left alone (an upload may be about to record one); old unused ones go.
      expect((await b().api.artifacts.collectGarbage()).files).toBe(0);
      utimesSync(file, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
      const collected = await b().api.artifacts.collectGarbage();
      expect(collected.files).toBe(1);
      expect(existsSync(file)).toBe(false);
      // Files still used stay, however old; the one an earlier upload replaced goes.
      const files = join(b().dir!, "sha256");
      for (const prefix of readdirSync(files)) for (const f of readdirSync(join(files, prefix))) utimesSync(join(files, prefix, f), new Date(0), new Date(0));
      expect((await b().api.artifacts.collectGarbage()).files).toBe(1);
      const used = (await b().api.pool.query(`SELECT sha256 FROM model_artifacts`)).rows.map((r) => r.sha256 as string);
      const left = readdirSync(files).flatMap((prefix) => readdirSync(join(files, prefix)));
      expect(left.sort()).toEqual([...new Set(used)].sort());
      for (const name of ["cnn", "refusals", "served", "other", "exits"]) await download(b(), "acme", name, b().tenant).expect(200);
    }
  });
});

describe("model artifacts in discovery", () => {
  it("lists models/artifact", async () => {
    const res = await request(backends[0]!.api.app).get(API_PREFIX).expect(200);
    expect(res.body.resources.find((r: any) => r.name === "models/artifact")).toMatchObject({ kind: "Model", verbs: ["get", "update"] });
  });
});
