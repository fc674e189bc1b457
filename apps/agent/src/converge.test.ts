// The agent converges on the control plane's view of its node (issue: "Converge after every
// fault"), against the real API (test database), real Redis and its queue, with the agent's link to
// the API through a TCP proxy the tests cut: a run whose task was deleted while the agent's watch
// was cut off, or that the control plane failed, is stopped; a job of a task already failed is not
// run; a report waits out an API outage and is delivered.
import { randomBytes } from "node:crypto";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, kindInfo } from "@eiaas/api";
import { createRedisQueueBackend, type QueueBackend } from "@eiaas/queue";
import { SimulatedRuntime } from "@eiaas/runtime";
import { startTcpProxy, type TcpProxy } from "@eiaas/testing";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";
import { NodeAgent, type AgentOptions } from "./agent.js";
import { captureLogger, createTask, EDGE, redisDb, taskStatus, V, waitFor } from "./testing/fixtures.js";

const TASK = kindInfo("Task");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let api: TestApi;
let proxy: TcpProxy;
const suffix = randomBytes(3).toString("hex");
const prefix = `bull-${suffix}`;
const redisUrl = redisDb(55);
let control: QueueBackend;
let shared: QueueBackend;
const runtime = new SimulatedRuntime();
const agents: NodeAgent[] = [];
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });

beforeAll(async () => {
  api = await startTestApi();
  const url = new URL(await api.listen());
  proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
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
  await proxy?.close();
  await api?.close();
});

/** An agent reaching the API through the proxy. */
async function startAgent(name: string, extra: Partial<AgentOptions> = {}) {
  const log = captureLogger();
  const boot = await api.tokens.mint({ role: "bootstrap" });
  const agent = new NodeAgent({ nodeName: name, spec: EDGE, connection: { server: proxy.url, token: boot.token }, runtime, queue: shared, heartbeatMs: 500, logger: log.logger, ...extra });
  await agent.start();
  agents.push(agent);
  return { agent, log };
}

const runs = (name: string) => runtime.running().filter((k) => k.startsWith(`acme/${name}/`));
const nodeStatus = async (node: string) => (await request(api.app).get(`${API_PREFIX}/edgenodes/${node}`).set(admin()).expect(200)).body.status;

describe("an agent converging on the control plane's view", () => {
  it("stops a run whose task was deleted while its watch was cut off (the link answering 502), once it is back", async () => {
    const node = `edge-del-${suffix}`;
    const { agent } = await startAgent(node, { slots: 2 });
    const name = `srv-del-${suffix}`;
    await control.enqueueTasks([await createTask(api, node, name)]);
    await waitFor(async () => (await taskStatus(api, name))?.phase === "Running", "the task Running");
    expect(runs(name)).toHaveLength(1);

    // A load balancer whose backend is away: the watch's reconnects get 502 Bad Gateway.
    await proxy.cut("bad-gateway");
    await sleep(2_500);
    await request(api.app).delete(`${API_PREFIX}/namespaces/acme/tasks/${name}`).set(admin()).expect(200);
    await sleep(1_500);
    await proxy.restore();

    await waitFor(() => runs(name).length === 0 && agent.runningKeys().length === 0, "the deleted task's run stopped");
    // Its job is finished, its slot free, and the node no longer reports the run.
    await waitFor(async () => (await control.depth(`node.${node}`)).active === 0, "the job finished");
    await waitFor(async () => JSON.stringify((await nodeStatus(node)).runningTasks) === "[]", "the heartbeat to list no running task");
  }, 60_000);

  it("stops a run whose task the control plane failed (NodeLost), without reporting over it", async () => {
    const node = `edge-lost-${suffix}`;
    const { agent } = await startAgent(node);
    const name = `srv-lost-${suffix}`;
    await control.enqueueTasks([await createTask(api, node, name)]);
    await waitFor(async () => (await taskStatus(api, name))?.phase === "Running", "the task Running");
    await waitFor(async () => JSON.stringify((await nodeStatus(node)).runningTasks) === JSON.stringify([`acme/${name}`]), "the heartbeat listing the run");

    // What the node lifecycle controller writes when it evicts a node's tasks.
    const t = (await api.store.get(TASK, "acme", name))!;
    const failed = await api.store.updateStatus(TASK, t, { ...t.status, phase: "Failed", reason: "NodeLost", message: "node unreachable", finishTime: new Date().toISOString() });

    await waitFor(() => runs(name).length === 0 && agent.runningKeys().length === 0, "the failed task's run stopped");
    await waitFor(async () => JSON.stringify((await nodeStatus(node)).runningTasks) === "[]", "the heartbeat to list no running task");
    // The control plane's word stands: nothing was reported over it.
    expect(await api.store.get(TASK, "acme", name)).toMatchObject({ metadata: { resourceVersion: failed.metadata.resourceVersion }, status: { phase: "Failed", reason: "NodeLost" } });
  });

  it("does not run a job of a task the control plane already failed, and its slot stays free", async () => {
    const node = `edge-late-${suffix}`;
    const { log } = await startAgent(node, { slots: 1 });
    // The job of a task failed while the job waited (or came back from a stalled agent): a serving
    // task runs until stopped, so running it would take the only slot for good.
    const name = `srv-late-${suffix}`;
    const job = await createTask(api, node, name);
    const t = (await api.store.get(TASK, "acme", name))!;
    await api.store.updateStatus(TASK, t, { ...t.status, phase: "Failed", reason: "Evicted", message: "drained", finishTime: new Date().toISOString() });
    await control.enqueueTasks([job]);
    await waitFor(async () => (await control.depth(`node.${node}`)).completed === 1, "the failed task's job finished");
    expect(runs(name)).toEqual([]);
    // The job completes before the agent's log line is necessarily written: wait for it.
    await waitFor(() => log.lines.some((l) => l.task === `acme/${name}` && /not running a job|moved past this run/.test(l.msg)), "the agent to say why it did not run the job");
    expect((await taskStatus(api, name))?.reason).toBe("Evicted");

    const next = `srv-next-${suffix}`;
    await control.enqueueTasks([await createTask(api, node, next)]);
    await waitFor(async () => (await taskStatus(api, next))?.phase === "Running", "the next task Running in the free slot");
  });

  it("keeps a finished run's report through a 30 s API outage and delivers it: the task reaches its final phase", async () => {
    const node = `edge-outage-${suffix}`;
    const { agent } = await startAgent(node);
    const name = `job-outage-${suffix}`;
    await control.enqueueTasks([await createTask(api, node, name, { expectedRunMs: 2_000 })]);
    await waitFor(async () => (await taskStatus(api, name))?.phase === "Running", "the task Running");

    await proxy.cut("refuse");
    // The run ends during the outage; its report waits, and the run keeps its slot meanwhile.
    await waitFor(() => runs(name).length === 0, "the run to end", 10_000);
    await sleep(30_000);
    expect(agent.runningKeys()).toEqual([`acme/${name}/1`]);
    expect((await taskStatus(api, name))?.phase).toBe("Running");
    await proxy.restore();

    await waitFor(async () => (await taskStatus(api, name))?.phase === "Succeeded", "the report delivered", 30_000);
    expect(await taskStatus(api, name)).toMatchObject({ phase: "Succeeded", exitCode: 0, attempt: 1 });
    await waitFor(() => agent.runningKeys().length === 0, "the slot freed once delivered");
  }, 90_000);
});
