// The node agent against the real API (test database), real Redis and its queue: what it does with
// jobs it cannot run (a task that does not exist, a malformed payload) and the Redis ACL
// credentials it receives at registration (its own queue only).
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { agentRedisUrl, createRedisQueueBackend, provisionAgentRedisUser, revokeAgentRedisUser, type QueueBackend, type TaskJob } from "@eiaas/queue";
import { SimulatedRuntime } from "@eiaas/runtime";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";
import { captureLogger, createTask as createBoundTask, EDGE, redisDb, V, waitFor } from "./testing/fixtures.js";
import { NodeAgent } from "./agent.js";
import { FileCredentialStore } from "./credentials.js";

let api: TestApi;
let url: string;
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });

/** A Task bound to `node` (what the scheduler would have created), and its dispatch job. */
const createTask = (node: string, name: string): Promise<TaskJob> => createBoundTask(api, node, name);

const taskPhase = async (name: string) => (await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks/${name}`).set(admin()).expect(200)).body.status?.phase;

describe("node agent", () => {
  const suffix = randomBytes(3).toString("hex");
  const redisUrl = redisDb(54);
  const prefix = `bull-${suffix}`;
  let control: QueueBackend;
  let shared: QueueBackend;
  const runtime = new SimulatedRuntime();
  const agents: NodeAgent[] = [];
  let adminRedis: Redis;
  const provisioned: string[] = [];

  beforeAll(async () => {
    adminRedis = new Redis(redisUrl);
    api = await startTestApi({
      // What server.ts wires when REDIS_URL is set: an ACL user per registering node.
      queueCredentials: async (nodeName) => {
        const c = await provisionAgentRedisUser(adminRedis, nodeName, { prefix });
        provisioned.push(nodeName);
        return { url: redisUrl, username: c.username, password: c.password };
      },
    });
    url = await api.listen();
    await request(api.app)
      .post(`${API_PREFIX}/tenants`)
      .set(admin())
      .send({ apiVersion: V, kind: "Tenant", metadata: { name: "acme" } })
      .expect(201);
    control = createRedisQueueBackend({ url: redisUrl, prefix });
    shared = createRedisQueueBackend({ url: redisUrl, prefix, retryDelayMs: 100, idlePollSeconds: 1 });
  });

  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await runtime.close();
    await shared?.close({ force: true });
    await control?.close({ force: true });
    for (const n of provisioned) await revokeAgentRedisUser(adminRedis, n).catch(() => undefined);
    adminRedis?.disconnect();
    await api?.close();
  });

  async function startAgent(name: string, log: ReturnType<typeof captureLogger>, extra: Partial<ConstructorParameters<typeof NodeAgent>[0]> = {}) {
    const boot = await api.tokens.mint({ role: "bootstrap" });
    const agent = new NodeAgent({ nodeName: name, spec: EDGE, connection: { server: url, token: boot.token }, runtime, queue: shared, heartbeatMs: 1_000, logger: log.logger, ...extra });
    await agent.start();
    agents.push(agent);
    return agent;
  }

  it("drops a job whose task does not exist (404) with a log line, freeing its slot", async () => {
    const node = `edge-ghost-${suffix}`;
    const log = captureLogger();
    await startAgent(node, log, { slots: 1 });
    // A serving task runs until stopped: if the agent kept it, its only slot would stay taken.
    const [id] = await control.enqueueTasks([{ node, payload: { namespace: "acme", name: "no-such-task", uid: `ghost-${suffix}`, attempt: 1, spec: { nodeName: node, role: "serve" } } }]);
    const line = await waitFor(() => log.lines.find((l) => l.msg?.includes("task no longer exists")), "the agent's log line");
    expect(line.task).toBe("acme/no-such-task");
    await waitFor(async () => (await control.depth(`node.${node}`)).completed === 1, `job ${id} to be finished`);
    expect(runtime.running().filter((k) => k.includes("no-such-task"))).toEqual([]);

    // The slot is free: a real task runs and is reported Running.
    const job = await createTask(node, `real-${suffix}`);
    await control.enqueueTasks([job]);
    await waitFor(async () => (await taskPhase(`real-${suffix}`)) === "Running", "the real task Running");
  });

  it("rejects malformed job payloads with a clear error and keeps consuming", async () => {
    const node = `edge-bad-${suffix}`;
    const log = captureLogger();
    await startAgent(node, log);
    const raw = new Queue(`node.${node}`, { connection: { url: redisUrl } as any, prefix });
    try {
      await raw.add("task", { namespace: "acme", name: "Not A Name!", attempt: -1, spec: { nodeName: node, role: "juggler", load: "lots", priority: 0.5 } }, { jobId: "bad.1" });
      await raw.add("task", "just a string", { jobId: "bad.2" });
      await raw.add("task", { namespace: "acme", name: "elsewhere", uid: "u-3", attempt: 1, spec: { nodeName: "edge-other", role: "serve" } }, { jobId: "bad.3" });
      // The flat payload of schedulers before the job carried the task's spec.
      await raw.add("task", { namespace: "acme", name: "flat", uid: "u-4", attempt: 1, nodeName: node, role: "serve" }, { jobId: "bad.4" });
      const rejected = await waitFor(() => {
        const r = log.lines.filter((l) => l.msg === "rejected a malformed job");
        return r.length === 4 ? r : undefined;
      }, "four rejections");
      // Logged as pino's err: its message, and its stack for whoever reads the agent's log.
      for (const l of rejected) expect(l.err.stack).toMatch(/\n\s+at /);
      const byJob = Object.fromEntries(rejected.map((l) => [l.jobId, l.err.message as string]));
      expect(byJob["bad.1"]).toMatch(/invalid node job payload \(job bad\.1\)/);
      for (const field of ["name", "uid", "attempt", "spec.role", "spec.load", "spec.priority"]) expect(byJob["bad.1"]).toContain(`${field}:`);
      expect(byJob["bad.2"]).toMatch(/invalid node\S* job payload/);
      expect(byJob["bad.3"]).toMatch(/spec\.nodeName: is edge-other, not this queue's node/);
      expect(byJob["bad.4"]).toMatch(/invalid node job payload \(job bad\.4\): spec: /);
      // Failed in the queue with the same reason, and not retried.
      const failed = await waitFor(async () => {
        const jobs = await raw.getFailed();
        return jobs.length === 4 ? jobs : undefined;
      }, "four failed jobs");
      for (const j of failed) expect(j.failedReason).toMatch(/invalid node\S* job payload/);
      expect(failed.every((j) => j.attemptsMade <= 1)).toBe(true);
    } finally {
      await raw.close();
    }
    // The agent is still consuming.
    const job = await createTask(node, `after-bad-${suffix}`);
    await control.enqueueTasks([job]);
    await waitFor(async () => (await taskPhase(`after-bad-${suffix}`)) === "Running", "a valid task Running after the bad ones");
  });

  it("runs a job from the Task spec it carries: the simulated runtime runs spec.expectedRunMs, then the task Succeeds", async () => {
    const node = `edge-spec-${suffix}`;
    await startAgent(node, captureLogger());
    const job = await createBoundTask(api, node, `timed-${suffix}`, { expectedRunMs: 50, load: 0.2, priority: 3 });
    expect(job.payload.spec).toMatchObject({ nodeName: node, role: "serve", expectedRunMs: 50, load: 0.2, priority: 3 });
    await control.enqueueTasks([job]);
    // A server without expectedRunMs would run until stopped: Succeeded says the runtime got it.
    await waitFor(async () => (await taskPhase(`timed-${suffix}`)) === "Succeeded", "the timed task Succeeded");
  });

  it("registers with Redis credentials that reach its own queue and no other node's", async () => {
    const nodeA = `edge-acl-a-${suffix}`;
    const nodeB = `edge-acl-b-${suffix}`;
    const log = captureLogger();
    let credsA: { url: string; username?: string; password?: string } | undefined;
    // As apps/agent/main.ts: the queue opened from the registration's credentials, restricted.
    const agent = await startAgent(nodeA, log, {
      queue: undefined,
      openQueue: (c) => {
        credsA = c;
        return createRedisQueueBackend({ url: agentRedisUrl(c.url, { username: c.username!, password: c.password! }), prefix, restricted: true, retryDelayMs: 100, idlePollSeconds: 1 });
      },
    });
    expect(credsA?.username).toBe(`eiaas-agent-${nodeA}`);
    expect(credsA?.password).toBeTruthy();
    // Its slots (default 4) became the node's task capacity: the scheduler binds no more than it runs.
    const registered = await request(api.app).get(`${API_PREFIX}/edgenodes/${nodeA}`).set(admin()).expect(200);
    expect(registered.body.spec.capacity.tasks).toBe(4);

    // Its own queue works end to end.
    const own = await createTask(nodeA, `acl-own-${suffix}`);
    await control.enqueueTasks([own]);
    await waitFor(async () => (await taskPhase(`acl-own-${suffix}`)) === "Running", "its own task Running");
    expect(agent.nodeName).toBe(nodeA);

    // Node B registers too (its own user); a job waits in B's queue.
    const boot = await api.tokens.mint({ role: "bootstrap" });
    const regB = await request(api.app)
      .post(`${API_PREFIX}/edgenodes/${nodeB}/register`)
      .set({ Authorization: `Bearer ${boot.token}` })
      .send({ spec: EDGE })
      .expect(201);
    expect(regB.body.queue.username).toBe(`eiaas-agent-${nodeB}`);
    const secret = await createTask(nodeB, `acl-secret-${suffix}`);
    const [secretId] = await control.enqueueTasks([secret]);

    // A's user cannot read, write, script or consume B's queue keys.
    const aUrl = agentRedisUrl(credsA!.url, { username: credsA!.username!, password: credsA!.password! });
    const raw = new Redis(aUrl, { enableReadyCheck: false, maxRetriesPerRequest: 0 });
    raw.on("error", () => undefined);
    const denied = /NOPERM|permissions|can't access/i;
    try {
      await expect(raw.hgetall(`${prefix}:node.${nodeB}:${secretId}`)).rejects.toThrow(denied);
      await expect(raw.lrange(`${prefix}:node.${nodeB}:wait`, 0, -1)).rejects.toThrow(denied);
      await expect(raw.set(`${prefix}:node.${nodeB}:forged`, "1")).rejects.toThrow(denied);
      await expect(raw.del(`${prefix}:node.${nodeB}:wait`)).rejects.toThrow(denied);
      await expect(raw.eval(`return redis.call('HGETALL', '${prefix}:node.${nodeB}:${secretId}')`, 0)).rejects.toThrow(denied);
      await expect(raw.keys("*")).rejects.toThrow(denied);
      // Its own keys are readable.
      expect(await raw.exists(`${prefix}:node.${nodeA}:meta`)).toBeGreaterThanOrEqual(0);
    } finally {
      raw.disconnect();
    }
    const errors: Error[] = [];
    const asA = createRedisQueueBackend({ url: aUrl, prefix, restricted: true, onError: (e) => errors.push(e) });
    try {
      await expect(asA.enqueueTasks([{ node: nodeB, payload: { ...secret.payload, uid: "forged", name: "forged" } }])).rejects.toThrow(denied);
      const c = asA.consumeNodeQueue(nodeB, async () => undefined, { onError: (e) => errors.push(e) });
      await waitFor(() => errors.some((e) => denied.test(e.message)), "consuming B's queue to be denied");
      await c.close({ force: true });
    } finally {
      await asA.close({ force: true });
    }
    // B's job is untouched, still waiting for B.
    expect((await control.depth(`node.${nodeB}`)).waiting).toBe(1);
    expect(await taskPhase(`acl-secret-${suffix}`)).toBe("Dispatched");
  });

  it("keeps its node credential (mode 0600) across restarts: a restarted agent renews with it and needs no bootstrap token", async () => {
    const node = `edge-keep-${suffix}`;
    const dir = await mkdtemp(join(tmpdir(), "eiaas-agent-state-"));
    try {
      const credentials = new FileCredentialStore(join(dir, "agents"));
      const log = captureLogger();
      const first = await startAgent(node, log, { credentials });
      expect(first.registeredWith).toBe("bootstrap");
      const file = credentials.locate(node);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, "agents"))).mode & 0o777).toBe(0o700);
      const kept = JSON.parse(await readFile(file, "utf8"));
      expect(kept).toMatchObject({ kind: "AgentCredential", server: url, nodeName: node, token: expect.any(String) });
      const uid = (await request(api.app).get(`${API_PREFIX}/edgenodes/${node}`).set(admin()).expect(200)).body.metadata.uid;
      await first.stop();

      // Restarted with no bootstrap token at all: it renews with its own.
      const again = new NodeAgent({ nodeName: node, spec: EDGE, connection: { server: url }, credentials, runtime, queue: shared, heartbeatMs: 1_000, logger: log.logger });
      await again.start();
      agents.push(again);
      expect(again.registeredWith).toBe("credential");
      expect(JSON.parse(await readFile(file, "utf8")).token).toBe(kept.token);
      const after = (await request(api.app).get(`${API_PREFIX}/edgenodes/${node}`).set(admin()).expect(200)).body;
      expect(after.metadata.uid).toBe(uid);
      expect(after.status.phase).toBe("Ready");
      const job = await createTask(node, `kept-${suffix}`);
      await control.enqueueTasks([job]);
      await waitFor(async () => (await taskPhase(`kept-${suffix}`)) === "Running", "a task Running on the restarted agent");

      // An agent without the credential cannot take the node, even with a fresh bootstrap token.
      const boot = await api.tokens.mint({ role: "bootstrap" });
      const impostor = new NodeAgent({ nodeName: node, spec: EDGE, connection: { server: url, token: boot.token }, runtime, queue: shared, logger: log.logger });
      await expect(impostor.start()).rejects.toThrow(/already exists and this agent holds no credential for it/);
      await impostor.stop();
      // A credential issued by another server is not sent to this one.
      expect(await credentials.load(node, "https://elsewhere.example:8443")).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("falls back to the bootstrap token when the API refuses its stored credential (its node was deleted)", async () => {
    const node = `edge-gone-${suffix}`;
    const dir = await mkdtemp(join(tmpdir(), "eiaas-agent-state-"));
    try {
      const credentials = new FileCredentialStore(dir);
      const log = captureLogger();
      const first = await startAgent(node, log, { credentials });
      await first.stop();
      const old = (await credentials.load(node, url))!.token;
      await request(api.app).delete(`${API_PREFIX}/edgenodes/${node}`).set(admin()).expect(200);
      const again = await startAgent(node, log, { credentials });
      expect(again.registeredWith).toBe("bootstrap");
      expect(log.lines.some((l) => l.msg === "the API refused the node's stored credential: registering with the bootstrap token")).toBe(true);
      const renewed = (await credentials.load(node, url))!.token;
      expect(renewed).not.toBe(old);
      // The old credential died with the old node's identity.
      await request(api.app)
        .post(`${API_PREFIX}/edgenodes/${node}/heartbeat`)
        .set({ Authorization: `Bearer ${old}` })
        .send({})
        .expect(401);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
