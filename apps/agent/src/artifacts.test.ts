// The agent's artifact fetch against the real API server (real Postgres): a serve task's segment
// cut from its Model's ONNX file fetched with the agent's own token, verified and kept by digest;
// an agent of another node refused; a Model without a file, or uploaded again, handled.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, kindInfo } from "@eiaas/api";
import { EiaasClient } from "@eiaas/client";
import ort from "onnxruntime-node";
import { extractSegment, GraphBuilder, importOnnxModel } from "@eiaas/onnx";
import { OnnxRuntime, type TaskRunSpec } from "@eiaas/runtime";
import { floats, inferBinary, maxDiff, randomInput, tinyCnn, tinyCnnOnnx } from "@eiaas/testing";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";
import { ArtifactError, ModelArtifacts } from "./artifacts.js";
import { V, waitFor } from "./testing/fixtures.js";

const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

let api: TestApi;
let base: string;
const dirs: string[] = [];
const clients: EiaasClient[] = [];
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });
const v1 = tinyCnnOnnx({ classes: 10, seed: 1 });
const v2 = tinyCnnOnnx({ classes: 10, seed: 2 });

async function upload(name: string, bytes: Uint8Array): Promise<void> {
  await request(api.app).put(`${API_PREFIX}/namespaces/acme/models/${name}/artifact`).set(admin()).set("Content-Type", "application/octet-stream").send(Buffer.from(bytes)).expect(200);
}

/** The artifact cache of an agent of `node`, in a fresh state directory. */
async function agentArtifacts(node: string): Promise<{ artifacts: ModelArtifacts; dir: string; client: EiaasClient }> {
  const token = (await api.tokens.mint({ role: "agent", nodeName: node })).token;
  const client = new EiaasClient({ server: base, token });
  clients.push(client);
  const dir = mkdtempSync(join(tmpdir(), "agent-artifacts-"));
  dirs.push(dir);
  return { artifacts: new ModelArtifacts({ client: () => client, dir }), dir, client };
}

function spec(layers: { from: number; to: number } | undefined, env: Record<string, string> = { EIAAS_MODEL: "cnn" }): TaskRunSpec {
  return {
    namespace: "acme",
    name: "svc-r1-serve-1",
    uid: "u",
    attempt: 1,
    nodeName: "edge-1",
    role: "serve",
    ...(layers ? { layers } : {}),
    template: {},
    env,
    resources: { cpu: 0, memoryMiB: 0, gpu: 0 },
  } as TaskRunSpec;
}

beforeAll(async () => {
  api = await startTestApi();
  base = await api.listen();
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set(admin())
    .send({ apiVersion: V, kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
  const imported = importOnnxModel(v1);
  for (const name of ["cnn", "bare"]) {
    await request(api.app)
      .post(`${API_PREFIX}/namespaces/acme/models`)
      .set(admin())
      .send({ apiVersion: V, kind: "Model", metadata: { name }, spec: { inputBytes: imported.inputBytes, accuracy: 0.5, layers: imported.layers } })
      .expect(201);
  }
  await upload("cnn", v1);
  // A serve task of a service of "cnn" and one of "bare", both on edge-1, as the scheduler binds them.
  for (const [svc, model] of [
    ["svc", "cnn"],
    ["svc-bare", "bare"],
  ] as const) {
    const owner = await api.store.create(ISVC, { apiVersion: V, metadata: { name: svc, namespace: "acme" }, spec: { model } } as any);
    await api.store.create(TASK, {
      apiVersion: V,
      metadata: { name: `${svc}-r1-serve-1`, namespace: "acme", ownerReferences: [{ apiVersion: V, kind: "InferenceService", name: svc, uid: owner.metadata.uid, controller: true }] },
      spec: { role: "serve", nodeName: "edge-1", layers: { from: 2, to: 3 } },
      status: { phase: "Running", attempt: 1 },
    } as any);
  }
});
afterAll(async () => {
  for (const c of clients) c.close();
  await api.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("ModelArtifacts (the agent's fetch, verify, cache and cut)", () => {
  it("cuts the task's layers out of its Model's file, fetched once per digest and kept verified", async () => {
    const { artifacts, dir, client } = await agentArtifacts("edge-1");
    // The API reads the agent's tasks from its watch cache: the tasks above may take a moment.
    const tail = await waitFor(() => artifacts.loadSegment(spec({ from: 2, to: 3 })), "the tail segment");
    expect(tail).toEqual(extractSegment(v1, { fromLayer: 2, toLayer: 3 }));
    const kept = join(dir, "sha256", sha256(v1));
    expect(sha256(new Uint8Array(readFileSync(kept)))).toBe(sha256(v1));
    const before = statSync(kept);
    // Other ranges, and the whole model, come from the kept file: no second download.
    expect(await artifacts.loadSegment(spec({ from: 1, to: 1 }))).toEqual(extractSegment(v1, { fromLayer: 1, toLayer: 1 }));
    expect(await artifacts.loadSegment(spec(undefined))).toEqual(v1);
    expect(statSync(kept).ino).toBe(before.ino);
    expect(statSync(kept).mtimeMs).toBe(before.mtimeMs);
    // Concurrent loads of a new digest share one download and agree.
    await upload("cnn", v2);
    // The agent reads Models through the API's watch cache: wait until it shows the new digest.
    await waitFor(async () => (await client.get("models", "cnn", { namespace: "acme" })).status?.artifact?.sha256 === sha256(v2), "the new digest");
    const [a, b] = await Promise.all([artifacts.loadSegment(spec({ from: 2, to: 3 })), artifacts.loadSegment(spec({ from: 2, to: 3 }))]);
    expect(a).toEqual(extractSegment(v2, { fromLayer: 2, toLayer: 3 }));
    expect(b).toEqual(a);
  });

  it("takes a newer upload found during the fetch, verified against the Model's digest", async () => {
    const { artifacts } = await agentArtifacts("edge-1");
    const adminClient = new EiaasClient({ server: base, token: api.adminToken });
    clients.push(adminClient);
    const stale = await adminClient.get("models", "cnn", { namespace: "acme" });
    await upload("cnn", v1);
    // The Model read before the upload states v2; the server now serves v1, and the Model says so.
    const got = await waitFor(() => artifacts.artifact("acme", stale), "the newer upload");
    expect(got.sha256).toBe(sha256(v1));
  });

  it("refuses with a clear error: another node's agent, a Model without file, a task naming no model, a range outside the model", async () => {
    const { artifacts: stranger } = await agentArtifacts("edge-9");
    await expect(stranger.loadSegment(spec({ from: 2, to: 3 }))).rejects.toThrow(/cannot read model acme\/cnn: .*not found/);
    const { artifacts } = await agentArtifacts("edge-1");
    const bare = await waitFor(() => artifacts.loadSegment(spec({ from: 1, to: 1 }, { EIAAS_MODEL: "bare" })).catch((e: Error) => e), "the bare model's answer");
    expect(bare).toBeInstanceOf(ArtifactError);
    expect((bare as Error).message).toMatch(/model acme\/bare has no artifact: upload its ONNX file/);
    await expect(artifacts.loadSegment(spec({ from: 1, to: 1 }, {}))).rejects.toThrow(/names no model \(env EIAAS_MODEL\)/);
    await expect(artifacts.loadSegment(spec({ from: 1, to: 1 }, { EIAAS_MODEL: "cnn", EIAAS_VARIANT: "int8" }))).rejects.toThrow(/only the base model's ONNX file is stored/);
    await expect(artifacts.loadSegment(spec({ from: 2, to: 9 }))).rejects.toThrow(/cannot cut layers 2\.\.9 of model acme\/cnn/);
  });

  it("serves the tasks the scheduler makes (variant \"base\", the exit after the last layer); a range taking in an exit's head gets the head's own artifact", async () => {
    const { artifacts, client, dir } = await agentArtifacts("edge-1");
    const layers = importOnnxModel(v1).layers.length;
    // The test before uploaded v1 again: wait until the API's cache shows it.
    await waitFor(async () => (await client.get("models", "cnn", { namespace: "acme" })).status?.artifact?.sha256 === sha256(v1), "the digest of v1");
    const planned = { EIAAS_MODEL: "cnn", EIAAS_VARIANT: "base", EIAAS_EXIT_AFTER_LAYER: String(layers) };
    const got = await waitFor(() => artifacts.loadSegment(spec({ from: 2, to: 3 }, planned)), "the planned task's segment");
    expect(got).toBeInstanceOf(Uint8Array);
    // A head before the exit is base layers only.
    const exitChain = { ...planned, EIAAS_EXIT_AFTER_LAYER: "1" };
    expect(await artifacts.loadSegment(spec({ from: 1, to: 1 }, exitChain))).toEqual(extractSegment(v1, { fromLayer: 1, toLayer: 1 }));
    // The exit is declared but its head not uploaded: a clear error saying how to upload it.
    const model = await client.get("models", "cnn", { namespace: "acme" });
    await request(api.app)
      .put(`${API_PREFIX}/namespaces/acme/models/cnn`)
      .set(admin())
      .send({ ...model, spec: { ...model.spec, exits: [{ afterLayer: 1, accuracy: 0.4 }] } })
      .expect(200);
    await waitFor(async () => (await client.get("models", "cnn", { namespace: "acme" })).spec?.exits?.length === 1, "the declared exit");
    await expect(artifacts.loadSegment(spec({ from: 1, to: 2 }, exitChain))).rejects.toThrow(/has no head for its early exit after layer 1: upload it \(eictl model import --exit-head 1=HEAD\.onnx\)/);
    // An exit head reading the cut tensor after layer 1 (relu1.out, [1,4,8,8]): the API checks that it does.
    const g = new GraphBuilder("tiny-exit1", { seed: 9 });
    const head = g.build(g.linear("exit/fc", g.flatten("exit", g.globalAvgPool("exit/avgpool", g.input("features", [1, 4, 8, 8]))), 4, 10), [1, 10]);
    await request(api.app).put(`${API_PREFIX}/namespaces/acme/models/cnn/artifact?exit=1`).set(admin()).set("Content-Type", "application/octet-stream").send(Buffer.from(head)).expect(200);
    await waitFor(async () => (await client.get("models", "cnn", { namespace: "acme" })).status?.exitArtifacts?.[0]?.sha256 === sha256(head), "the head's digest");
    // Base layers up to the exit, then the head as the segment's exit head; the head alone for a range that is the head only.
    const withHead = (await artifacts.loadSegment(spec({ from: 1, to: 2 }, exitChain))) as { segment: Uint8Array; exitHead: Uint8Array };
    expect(Object.keys(withHead).sort()).toEqual(["exitHead", "segment"]);
    expect(sha256(withHead.segment)).toBe(sha256(extractSegment(v1, { fromLayer: 1, toLayer: 1 })));
    expect(sha256(withHead.exitHead)).toBe(sha256(head));
    expect(sha256((await artifacts.loadSegment(spec({ from: 2, to: 2 }, exitChain))) as Uint8Array)).toBe(sha256(head));
    expect(sha256(new Uint8Array(readFileSync(join(dir, "sha256", sha256(head)))))).toBe(sha256(head));
    // A range that runs past the exit's head is no chain the planner makes.
    await expect(artifacts.loadSegment(spec({ from: 1, to: 3 }, exitChain))).rejects.toThrow(/do not fit a chain that ends at the exit head after layer 1/);
  });

  it("the onnx runtime serves base layers and the exit's head both fetched as artifacts: the answer is the head's, exit taken", async () => {
    const cnn = tinyCnn({ seed: 5 });
    const imported = importOnnxModel(cnn.whole);
    // An exit after layer 2 reads its cut tensor ("flat", 1×8): a linear classifier of its own.
    const g = new GraphBuilder("tiny-exit2", { seed: 4 });
    const exitHead = g.build(g.linear("exit/fc", g.input("features", [1, 8]), 8, 10), [1, 10]);
    await request(api.app)
      .post(`${API_PREFIX}/namespaces/acme/models`)
      .set(admin())
      .send({ apiVersion: V, kind: "Model", metadata: { name: "early" }, spec: { inputBytes: imported.inputBytes, accuracy: 0.6, layers: imported.layers, exits: [{ afterLayer: 2, accuracy: 0.5 }] } })
      .expect(201);
    await upload("early", cnn.whole);
    await request(api.app).put(`${API_PREFIX}/namespaces/acme/models/early/artifact?exit=2`).set(admin()).set("Content-Type", "application/octet-stream").send(Buffer.from(exitHead)).expect(200);
    const owner = await api.store.create(ISVC, { apiVersion: V, metadata: { name: "svc-early", namespace: "acme" }, spec: { model: "early" } } as any);
    const env = { EIAAS_MODEL: "early", EIAAS_VARIANT: "base", EIAAS_EXIT_AFTER_LAYER: "2", EIAAS_EXIT_THRESHOLD: "0" };
    await api.store.create(TASK, {
      apiVersion: V,
      metadata: { name: "svc-early-r1-serve-1", namespace: "acme", ownerReferences: [{ apiVersion: V, kind: "InferenceService", name: "svc-early", uid: owner.metadata.uid, controller: true }] },
      spec: { role: "serve", nodeName: "edge-1", layers: { from: 1, to: 3 }, env },
      status: { phase: "Running", attempt: 1 },
    } as any);
    const { artifacts } = await agentArtifacts("edge-1");
    const task = { ...spec({ from: 1, to: 3 }, env), name: "svc-early-r1-serve-1" };
    await waitFor(() => artifacts.loadSegment(task), "the task's segment and exit head");

    const runtime = new OnnxRuntime({ loadSegment: (t) => artifacts.loadSegment(t) });
    const controller = new AbortController();
    const started: string[] = [];
    const done = runtime.start(task, { signal: controller.signal, onLog: () => undefined, onStarted: (i) => void started.push(i.endpoint!) });
    try {
      const endpoint = await waitFor(() => started[0], "the server");
      const input = randomInput(3 * 16 * 16, 8);
      const reply = await inferBinary(Number(endpoint.split(":").at(-1)), cnn.inputShape, input);
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.headers["x-eiaas-exit"] as string)).toMatchObject({ taken: true, threshold: 0 });
      // What onnxruntime answers for layers 1..2 of the base graph followed by the head.
      const run = async (bytes: Uint8Array, data: Float32Array, shape: number[]) => {
        const session = await ort.InferenceSession.create(bytes);
        try {
          return (await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", data, shape) }))[session.outputNames[0]!]!.data as Float32Array;
        } finally {
          await session.release();
        }
      };
      const cut = await run(extractSegment(cnn.whole, { fromLayer: 1, toLayer: 2 }), input, cnn.inputShape);
      expect(maxDiff(floats(reply.body), await run(exitHead, cut, [1, 8]))).toBeLessThan(1e-5);
    } finally {
      controller.abort("test over");
      await done;
    }
  });
});
