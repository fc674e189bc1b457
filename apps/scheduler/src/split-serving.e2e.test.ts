// A split plan executed for real: the API server, the scheduler and two agent *processes*
// (`apps/agent/src/main.ts --runtime onnx`, as deployed, no --segment-dir) on real Postgres and
// Redis. The Model's ONNX file is uploaded as its artifact; the planner splits it between the
// device (head) and the edge server (tail); each agent fetches the artifact with its own token and
// cuts its layers; the head finds its tail's endpoint through the API. A request to the client's
// entry endpoint (from the discovery API) answers what onnxruntime answers for the whole model.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { importOnnxModel } from "@eiaas/onnx";
import { agentProcesses, deployedAgentQueues, floats, inferBinary, maxDiff, randomInput, tinyCnn, type AgentProcesses } from "@eiaas/testing";
import { deviceSpec, edgeSpec, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

const DEVICE = "sdev-1";
const EDGE = "sedge-1";
const cnn = tinyCnn({ size: 32, seed: 21 });
const input = randomInput(3 * 32 * 32, 5);

let cp: ControlPlane;
let deployed: ReturnType<typeof deployedAgentQueues>;
let stateDir: string;
let agents: AgentProcesses;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "eiaas-split-"));
  deployed = deployedAgentQueues();
  cp = await startControlPlane({ api: deployed.api, queue: deployed.queue, scheduler: { resyncMs: 200, gracePeriodMs: 60_000 } });
  const bootstrap = (await cp.api.tokens.mint({ role: "bootstrap", maxUses: null })).token;
  // Each node its own state directory: its artifacts are fetched with its own token.
  agents = agentProcesses({ server: cp.url, bootstrapToken: bootstrap, runtime: "onnx", stateDir, statePerNode: true });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  const imported = importOnnxModel(cnn.whole);
  expect(imported.layers.length).toBeGreaterThan(1);
  await cp.apply("/namespaces/acme/models", { apiVersion: V, kind: "Model", metadata: { name: "cnn" }, spec: { inputBytes: imported.inputBytes, accuracy: 0.5, layers: imported.layers } });
  await request(cp.api.app).put(`${API_PREFIX}/namespaces/acme/models/cnn/artifact`).set(cp.admin()).set("Content-Type", "application/octet-stream").send(Buffer.from(cnn.whole)).expect(200);
  await Promise.all([agents.start(EDGE, edgeSpec("none", { parent: undefined })), agents.start(DEVICE, deviceSpec(EDGE), "client=cam")]);
}, 600_000);

afterAll(async () => {
  await agents?.stopAll();
  await cp?.close();
  deployed?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

async function wholeModel(): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(cnn.whole);
  try {
    return (await session.run({ input: new ort.Tensor("float32", input, cnn.inputShape) })).logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe("a split plan served by two agent processes (onnx runtime, Model artifacts)", () => {
  it("answers at the client's entry endpoint what the whole model answers; the head forwards to its tail", { timeout: 300_000 }, async () => {
    await cp.apply("/namespaces/acme/inferenceservices", {
      apiVersion: V,
      kind: "InferenceService",
      metadata: { name: "cam" },
      // edge-device: the device runs a head, the edge server the tail (a split, 1 ≤ j < layers).
      spec: { model: "cnn", clients: { selector: { matchLabels: { client: "cam" } }, requestsPerSecond: 1 }, architecture: "edge-device", resources: { cpu: 100, memoryMiB: 64 } },
    });
    const svc = await waitFor(
      async () => {
        const s = await cp.get("/namespaces/acme/inferenceservices/cam");
        return s.status?.phase === "Running" ? s : undefined;
      },
      "the service Running",
      240_000,
      200,
    );
    const plan = svc.status.plan.clients[0];
    expect(plan).toMatchObject({ client: DEVICE, architecture: "edge-device", headNode: DEVICE, tailNode: EDGE });

    // The client's entry point, as a client finds it: the discovery API, its own node's head.
    const endpoints = await waitFor(
      async () => {
        const list = (await request(cp.api.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices/cam/endpoints?client=${DEVICE}`).set(cp.admin()).expect(200)).body;
        const entry = list.items.find((e: any) => e.entry);
        return entry && list.items.some((e: any) => e.node === EDGE && e.role === "tail" && e.address) ? { entry, list } : undefined;
      },
      "both endpoints listed",
      60_000,
      200,
    ).catch(async (err) => {
      const tasks = (await cp.get("/namespaces/acme/tasks")).items.map((x: any) => `${x.metadata.name} ${x.spec.nodeName} ${x.spec.role} ${JSON.stringify(x.status)}`);
      const list = (await request(cp.api.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices/cam/endpoints?client=${DEVICE}`).set(cp.admin())).body;
      throw new Error(`${(err as Error).message}: ${JSON.stringify(list.items)}; tasks: ${tasks.join("; ")}`);
    });
    expect(endpoints.entry).toMatchObject({ node: DEVICE, role: "head", task: expect.stringMatching(/^cam-r1-head-/), entry: true });
    const port = Number(endpoints.entry.address.split(":")[1]);

    const whole = await wholeModel();
    const r = await inferBinary(port, cnn.inputShape, input);
    expect(r.status, r.body.toString()).toBe(200);
    expect(maxDiff(floats(r.body), whole)).toBeLessThan(1e-4);
    const t = JSON.parse(r.headers["x-eiaas-timings"] as string);
    expect(t).toMatchObject({ node: DEVICE, layers: { from: 1, to: plan.split }, next: { node: EDGE, layers: { from: plan.split + 1 } } });
    expect(t.transferMs).toEqual(expect.any(Number));

    // Each agent fetched the artifact with its own token (the edge server's for the tail).
    const tasks = (await cp.get("/namespaces/acme/tasks")).items;
    const head = tasks.find((x: any) => x.spec.role === "head");
    const tail = tasks.find((x: any) => x.spec.role === "tail");
    expect(head.spec.env.EIAAS_NEXT_TASK).toBe(tail.metadata.name);
    expect(head.spec.env.EIAAS_NEXT_ENDPOINT).toBeUndefined();
  });
});
