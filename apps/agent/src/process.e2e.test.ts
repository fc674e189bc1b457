// The agent as deployed (`node --import tsx apps/agent/src/main.ts`): registered through the real
// API, consuming its queue on a private Redis as its ACL user; /readyz, /metrics and SIGTERM
// (stop taking work, hand the running job back to the queue, exit 0); started again, it renews
// with the credential it kept in --state-dir, without a bootstrap token.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { createRedisQueueBackend, provisionAgentRedisUser, type QueueBackend } from "@eiaas/queue";
import { startRedis, type RunningRedis } from "@eiaas/testing";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const V = "eiaas.io/v1alpha1";
const NODE = "edge-proc";

let redis: RunningRedis;
let adminRedis: Redis;
let api: TestApi;
let url: string;
let control: QueueBackend;
let agent: ChildProcess | undefined;
let stateDir: string;
let lines: Array<Record<string, any>> = [];
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

/** Starts the agent process; resolves with its ops server's URL once it serves it. */
async function spawnAgent(env: NodeJS.ProcessEnv): Promise<{ ops: string; exited: Promise<number | null> }> {
  lines = [];
  agent = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "apps/agent/src/main.ts",
      "--node",
      NODE,
      "--tier",
      "edge",
      "--cpu",
      "8000",
      "--memory-mib",
      "16384",
      "--gflops",
      "1000",
      "--server",
      url,
      "--slots",
      "2",
      "--state-dir",
      stateDir,
    ],
    { cwd: ROOT, env: { ...process.env, EIAAS_METRICS_PORT: "0", EIAAS_LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let buffer = "";
  agent.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) lines.push(JSON.parse(line));
    }
  });
  let stderr = "";
  agent.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const child = agent;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const serving = await Promise.race([
    waitFor(() => lines.find((l) => l.msg === "serving /livez, /readyz and /metrics"), "the agent's ops server", 75_000),
    exited.then((code) => {
      throw new Error(`the agent exited (${code}): ${stderr}`);
    }),
  ]);
  return { ops: `http://127.0.0.1:${serving.port}`, exited };
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "eiaas-agent-proc-"));
  redis = await startRedis();
  adminRedis = new Redis(redis.url);
  api = await startTestApi({
    // What server.ts wires with REDIS_URL: an ACL user per registering node, BullMQ's default prefix.
    queueCredentials: async (nodeName) => {
      const c = await provisionAgentRedisUser(adminRedis, nodeName);
      return { url: redis.url, username: c.username, password: c.password };
    },
  });
  url = await api.listen();
  control = createRedisQueueBackend({ url: redis.url });
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set(admin())
    .send({ apiVersion: V, kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
});

afterAll(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill("SIGKILL");
  await control?.close({ force: true });
  adminRedis?.disconnect();
  await api?.close();
  await redis?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe("agent process", () => {
  it("serves /readyz and /metrics, and on SIGTERM hands its running job back and exits 0", { timeout: 150_000 }, async () => {
    const boot = await api.tokens.mint({ role: "bootstrap" });
    const { ops, exited } = await spawnAgent({ EIAAS_BOOTSTRAP_TOKEN: boot.token });
    // Ready: registered, the API answers, and its queue answers to its restricted Redis user.
    const ready = await waitFor(async () => {
      const r = await fetch(`${ops}/readyz`);
      return r.status === 200 ? r.text() : undefined;
    }, "the agent ready");
    expect(ready).toBe("ok");

    // A serving task bound to the node (what the scheduler would have made), and its job.
    const task = await request(api.app)
      .post(`${API_PREFIX}/namespaces/acme/tasks`)
      .set(admin())
      .send({ apiVersion: V, kind: "Task", metadata: { name: "srv" }, spec: { nodeName: NODE, role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } } })
      .expect(201);
    await control.enqueueTasks([{ node: NODE, payload: { namespace: "acme", name: "srv", uid: task.body.metadata.uid, attempt: 1, spec: { nodeName: NODE, role: "serve" } } }]);
    const phase = async () => (await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks/srv`).set(admin()).expect(200)).body.status?.phase;
    await waitFor(async () => (await phase()) === "Running", "the task Running");

    const metrics = await (await fetch(`${ops}/metrics`)).text();
    expect(metrics).toMatch(/^eiaas_agent_tasks_running 1$/m);
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m);

    agent!.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(lines.map((l) => l.msg)).toContain("shutting down: handing running jobs back to the queue");
    // Handed back, not finished: the job stays in the queue (active until its lock expires, then
    // waiting for the next agent) and the task was not reported Failed or Succeeded.
    const depth = await control.depth(`node.${NODE}`);
    expect(depth).toMatchObject({ completed: 0, failed: 0 });
    expect(depth.active + depth.waiting).toBe(1);
    expect(await phase()).toBe("Running");
  });

  it("started again, it renews with the credential it kept (mode 0600) and needs no bootstrap token", { timeout: 150_000 }, async () => {
    expect((await stat(join(stateDir, `${NODE}.json`))).mode & 0o777).toBe(0o600);
    const uid = (await request(api.app).get(`${API_PREFIX}/edgenodes/${NODE}`).set(admin()).expect(200)).body.metadata.uid;
    const { ops, exited } = await spawnAgent({ EIAAS_BOOTSTRAP_TOKEN: "" });
    await waitFor(async () => ((await fetch(`${ops}/readyz`)).status === 200 ? true : undefined), "the restarted agent ready");
    const node = (await request(api.app).get(`${API_PREFIX}/edgenodes/${NODE}`).set(admin()).expect(200)).body;
    expect(node.metadata.uid).toBe(uid);
    expect(node.status.phase).toBe("Ready");
    agent!.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
