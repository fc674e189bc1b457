// The agent as deployed (`node --import tsx apps/agent/src/main.ts --runtime onnx`) against the real
// API on a private Redis: a serve task's segment served from its --segment-dir on the endpoint it
// reports Running, answering /v1/infer as onnxruntime does; the task deleted, the server stops and
// its port is freed; tasks it cannot serve fail with their reason.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import ort from "onnxruntime-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, type TaskRole } from "@eiaas/api";
import { createRedisQueueBackend, provisionAgentRedisUser, type QueueBackend } from "@eiaas/queue";
import { call, floats, inferBinary, maxDiff, randomInput, startRedis, tinyCnn, type RunningRedis } from "@eiaas/testing";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const V = "eiaas.io/v1alpha1";
const NODE = "edge-onnx";
const cnn = tinyCnn({ seed: 9 });
const input = randomInput(3 * 16 * 16, 4);

let redis: RunningRedis;
let adminRedis: Redis;
let api: TestApi;
let control: QueueBackend;
let agent: ChildProcess | undefined;
let exited: Promise<number | null>;
let dir: string;
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });

async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve()
      .then(check)
      .catch(() => undefined);
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const taskStatus = async (name: string) => (await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks/${name}`).set(admin()).expect(200)).body.status ?? {};

/** Creates a Task bound to the node and enqueues its job, as the scheduler's bind and dispatch do. */
async function submit(name: string, spec: { role: TaskRole; layers?: { from: number; to: number }; env?: Record<string, string> }): Promise<void> {
  const task = await request(api.app)
    .post(`${API_PREFIX}/namespaces/acme/tasks`)
    .set(admin())
    .send({ apiVersion: V, kind: "Task", metadata: { name }, spec: { nodeName: NODE, resources: { cpu: 1000, memoryMiB: 64, gpu: 0 }, ...spec } })
    .expect(201);
  await control.enqueueTasks([
    { node: NODE, payload: { namespace: "acme", name, uid: task.body.metadata.uid, attempt: 1, spec: { nodeName: NODE, resources: { cpu: 1000, memoryMiB: 64, gpu: 0 }, ...spec } } },
  ]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "eiaas-agent-onnx-"));
  await writeFile(join(dir, "tiny-cnn.onnx"), cnn.whole);
  await symlink("/etc/hostname", join(dir, "outside.onnx"));
  redis = await startRedis();
  adminRedis = new Redis(redis.url);
  api = await startTestApi({
    queueCredentials: async (nodeName) => {
      const c = await provisionAgentRedisUser(adminRedis, nodeName);
      return { url: redis.url, username: c.username, password: c.password };
    },
  });
  const url = await api.listen();
  control = createRedisQueueBackend({ url: redis.url });
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set(admin())
    .send({ apiVersion: V, kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
  const boot = await api.tokens.mint({ role: "bootstrap" });
  const lines: Array<Record<string, unknown>> = [];
  agent = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "apps/agent/src/main.ts",
      "--node",
      NODE,
      "--runtime",
      "onnx",
      "--segment-dir",
      join(dir, "segments-link"),
      "--tier",
      "edge",
      "--cpu",
      "4000",
      "--memory-mib",
      "4096",
      "--server",
      url,
      "--slots",
      "4",
      "--state-dir",
      join(dir, "state"),
      "--heartbeat-seconds",
      "1",
    ],
    { cwd: ROOT, env: { ...process.env, EIAAS_BOOTSTRAP_TOKEN: boot.token, EIAAS_LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  // The directory is reached through a link, as /var/lib/eiaas/models often is.
  await symlink(dir, join(dir, "segments-link"));
  let stderr = "";
  agent.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  agent.stdout!.on("data", (c: Buffer) => {
    for (const l of c.toString().split("\n")) if (l.trim().startsWith("{")) lines.push(JSON.parse(l));
  });
  const child = agent;
  exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  await Promise.race([
    waitFor(() => lines.find((l) => l.msg === "agent registered and consuming its queue"), "the agent registered", 75_000),
    exited.then((code) => Promise.reject(new Error(`the agent exited (${code}): ${stderr}`))),
  ]);
}, 120_000);

afterAll(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    agent.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (agent.exitCode === null) agent.kill("SIGKILL");
  }
  await control?.close({ force: true });
  adminRedis?.disconnect();
  await api?.close();
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("agent --runtime onnx", () => {
  it("serves a serve task on the endpoint it reports Running; deleting the task stops the server", { timeout: 120_000 }, async () => {
    await submit("classifier", { role: "serve", layers: { from: 1, to: 3 }, env: { EIAAS_SEGMENT_FILE: "tiny-cnn.onnx" } });
    const status = await waitFor(
      async () => {
        const s = await taskStatus("classifier");
        return s.phase === "Running" && s.endpoint ? s : undefined;
      },
      "the task Running with an endpoint",
      60_000,
    );
    expect(status.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    const port = Number(status.endpoint.split(":")[1]);

    const session = await ort.InferenceSession.create(cnn.whole);
    const expected = (await session.run({ input: new ort.Tensor("float32", input, cnn.inputShape) })).logits!.data as Float32Array;
    await session.release();
    const r = await inferBinary(port, cnn.inputShape, input);
    expect(r.status).toBe(200);
    expect(maxDiff(floats(r.body), expected)).toBeLessThan(1e-6);
    expect(JSON.parse(r.headers["x-eiaas-timings"] as string)).toMatchObject({ node: NODE, layers: { from: 1, to: 3 } });

    const log = await waitFor(async () => {
      const body = (await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks/classifier/log`).set(admin())).text;
      return body.includes("serving layers 1-3") ? body : undefined;
    }, "the task's log");
    expect(log).toContain(`on ${status.endpoint}: input [1,3,16,16] → logits [1,10], 1 thread(s)`);

    await request(api.app).delete(`${API_PREFIX}/namespaces/acme/tasks/classifier`).set(admin()).expect(200);
    await waitFor(
      async () =>
        call(port, { method: "GET", path: "/healthz" }).then(
          () => false,
          (err: Error) => /ECONNREFUSED/.test(err.message),
        ),
      "the server stopped",
      30_000,
    );
  });

  it.each([
    ["a training participant", "p1", { role: "participant" as const }, "UnsupportedRole", /role is participant/],
    [
      "a segment outside the directory",
      "escape",
      { role: "serve" as const, env: { EIAAS_SEGMENT_FILE: "../../etc/passwd" } },
      "ArtifactUnavailable",
      /EIAAS_SEGMENT_FILE: "..\/..\/etc\/passwd" is not a plain file name/,
    ],
    [
      "a link leading out of the directory",
      "link",
      { role: "serve" as const, env: { EIAAS_SEGMENT_FILE: "outside.onnx" } },
      "ArtifactUnavailable",
      /"outside.onnx" leads out of the agent's segment directory/,
    ],
    ["a segment that is missing", "missing", { role: "tail" as const, env: { EIAAS_SEGMENT_FILE: "nope.onnx" } }, "ArtifactUnavailable", /no file "nope.onnx"/],
  ])("%s fails with its reason", { timeout: 60_000 }, async (_what, name, spec, reason, message) => {
    await submit(name, spec);
    const status = await waitFor(
      async () => {
        const s = await taskStatus(name);
        return s.phase === "Failed" ? s : undefined;
      },
      `${name} Failed`,
      45_000,
    );
    expect(status.reason).toBe(reason);
    expect(status.message).toMatch(message);
  });
});
