// Test-only: a control plane for the scheduler's end-to-end and fault tests — the API over a cloned
// test database (listening on a real socket, as agents need), a Scheduler on the same database, a
// BullMQ queue on Redis with a key prefix of its own, and real node agents (apps/agent) running
// tasks in a simulated runtime and reporting through the API.
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import request from "supertest";
import { NodeAgent } from "@eiaas/agent";
import { API_PREFIX, type EdgeNodeSpecInput } from "@eiaas/api";
import { createDatabase, ObjectStore, type Database } from "@eiaas/db";
import { createPostgresLeaseStore, createRedisQueueBackend, type LeaseStore, type QueueBackend, type RedisQueueBackendOptions } from "@eiaas/queue";
import { SimulatedRuntime } from "@eiaas/runtime";
import { createLogger, type Logger } from "@eiaas/telemetry";
import { startTestApi, type TestApi, type TestApiOverrides } from "../../api-server/src/test-harness.js";
import { Scheduler, type SchedulerOptions } from "./scheduler.js";

export const V = "eiaas.io/v1alpha1";

/** A pino logger whose lines are kept (parsed) for assertions; silent on stdout. */
export function captureLogger(name: string): { logger: Logger; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ name, level: "debug", destination }), lines };
}

export interface ControlPlaneOptions {
  /** Redis for the queues; default the test run's. */
  redisUrl: string;
  scheduler?: SchedulerOptions | false;
  api?: TestApiOverrides;
  queue?: Partial<RedisQueueBackendOptions>;
}

export interface ControlPlane {
  api: TestApi;
  /** Base URL of the listening API (what agents connect to). */
  url: string;
  db: Database;
  store: ObjectStore;
  leases: LeaseStore;
  /** The scheduler's queue transport (producer side). */
  queue: QueueBackend;
  /** The agents' queue transport (one per control plane, as SimulatedFleet shares one). */
  agentQueue: QueueBackend;
  prefix: string;
  scheduler?: Scheduler;
  schedulerLog: ReturnType<typeof captureLogger>;
  agentLog: ReturnType<typeof captureLogger>;
  agents: Map<string, NodeAgent>;
  runtime: SimulatedRuntime;
  admin(): Record<string, string>;
  apply(path: string, obj: object): Promise<any>;
  get(path: string): Promise<any>;
  /** Registers and starts a node agent (heartbeats every 200 ms by default). */
  startAgent(name: string, spec: EdgeNodeSpecInput, labels?: Record<string, string>, extra?: Partial<ConstructorParameters<typeof NodeAgent>[0]>): Promise<NodeAgent>;
  stopAgent(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const api = await startTestApi(options.api ?? {});
  const url = await api.listen();
  const db = createDatabase(api.db.url, { poolSize: 5 });
  const store = new ObjectStore(db.pool);
  const leases = createPostgresLeaseStore(db.pool);
  const prefix = options.queue?.prefix ?? `bull-${randomBytes(4).toString("hex")}`;
  const schedulerLog = captureLogger("scheduler");
  const agentLog = captureLogger("agent");
  const queue = createRedisQueueBackend({ url: options.redisUrl, prefix, retryDelayMs: 100, ...options.queue });
  const agentQueue = createRedisQueueBackend({ url: options.redisUrl, prefix, retryDelayMs: 100, lockDurationMs: 5_000, stalledIntervalMs: 2_000, idlePollSeconds: 2, ...options.queue });
  const scheduler =
    options.scheduler === false
      ? undefined
      : new Scheduler({ databaseUrl: api.db.url, pool: db.pool, store, queue, leases, logger: schedulerLog.logger }, { resyncMs: 200, ...options.scheduler });
  const runtime = new SimulatedRuntime();
  const agents = new Map<string, NodeAgent>();
  const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });
  const bootstrap = await api.tokens.mint({ role: "bootstrap" });
  scheduler?.start();
  const cp: ControlPlane = {
    api,
    url,
    db,
    store,
    leases,
    queue,
    agentQueue,
    prefix,
    ...(scheduler ? { scheduler } : {}),
    schedulerLog,
    agentLog,
    agents,
    runtime,
    admin,
    apply: async (path, obj) => {
      const r = await request(api.app).post(`${API_PREFIX}${path}`).set(admin()).send(obj);
      if (r.status !== 201) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    get: async (path) => {
      const r = await request(api.app).get(`${API_PREFIX}${path}`).set(admin());
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    startAgent: async (name, spec, labels = {}, extra = {}) => {
      const agent = new NodeAgent({
        nodeName: name,
        spec,
        labels,
        connection: { server: url, token: bootstrap.token },
        runtime,
        slots: 8,
        queue: agentQueue,
        heartbeatMs: 200,
        restartGraceMs: 2_000,
        logger: agentLog.logger,
        ...extra,
      });
      await agent.start();
      agents.set(name, agent);
      return agent;
    },
    stopAgent: async (name) => {
      await agents.get(name)?.stop();
      agents.delete(name);
    },
    close: async () => {
      await scheduler?.stop();
      for (const a of agents.values()) await a.stop().catch(() => undefined);
      await runtime.close();
      await agentQueue.close({ force: true });
      await queue.close({ force: true });
      await db.close();
      await api.close();
    },
  };
  return cp;
}

/** The model of the scheduler's end-to-end test: five layers, no profiles. */
export const MODEL = {
  apiVersion: V,
  kind: "Model",
  metadata: { name: "m" },
  spec: {
    inputBytes: 600000,
    accuracy: 0.8,
    layers: [
      { name: "l1", flops: 4e8, outputBytes: 800000, memoryMiB: 1 },
      { name: "l2", flops: 1e8, outputBytes: 200000, memoryMiB: 1 },
      { name: "l3", flops: 6e8, outputBytes: 400000, memoryMiB: 1 },
      { name: "l4", flops: 5e7, outputBytes: 50000, memoryMiB: 1 },
      { name: "l5", flops: 2.5e8, outputBytes: 4000, memoryMiB: 1 },
    ],
  },
};

export const cloudSpec = (): EdgeNodeSpecInput => ({ tier: "cloud", hardware: "a100", capacity: { cpu: 32000, memoryMiB: 65536, gpu: 1 }, compute: { gflops: 5000 } });
export const edgeSpec = (parent: string, extra: Partial<EdgeNodeSpecInput> = {}): EdgeNodeSpecInput => ({
  tier: "edge",
  parent,
  hardware: "k40",
  capacity: { cpu: 8000, memoryMiB: 16384 },
  compute: { gflops: 1000 },
  network: { uplinkMbps: 100, downlinkMbps: 100, rttMs: 10 },
  ...extra,
});
export const deviceSpec = (parent: string): EdgeNodeSpecInput => ({
  tier: "device",
  parent,
  hardware: "tk1",
  capacity: { cpu: 4000, memoryMiB: 2048 },
  compute: { gflops: 20 },
  power: { computeW: 5, transmitW: 1 },
  network: { uplinkMbps: 40, downlinkMbps: 40, rttMs: 2 },
});

/** An InferenceService of model `m` for the devices labelled `client=<client>`. */
export function isvc(name: string, client: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: V,
    kind: "InferenceService",
    metadata: { name },
    spec: { model: "m", clients: { selector: { matchLabels: { client } }, requestsPerSecond: 1 }, resources: { cpu: 100, memoryMiB: 64 }, ...spec },
  };
}

/** Polls `check` until truthy; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * What must hold of the rows whatever crashed or raced (issue 4): every task bound at most once
 * per plan revision (no duplicate task keys of a workload's revision, no task name added twice),
 * no node over its cpu/memory/gpu capacity or its load bound, no tenant over its quota, and each
 * dispatch job on the queue of the node its task is bound to. Returns the violations.
 */
export async function bindingViolations(pool: import("pg").Pool, jobs?: Map<string, string[]>): Promise<string[]> {
  const out: string[] = [];
  const dup = await pool.query(
    `SELECT owner_uid, labels->>'eiaas.io/plan-revision' AS rev, annotations->>'eiaas.io/task-key' AS key, count(*)::int AS n
     FROM tasks GROUP BY 1, 2, 3 HAVING count(*) > 1`,
  );
  for (const r of dup.rows) out.push(`workload ${r.owner_uid} revision ${r.rev}: task ${r.key} bound ${r.n} times`);
  const twice = await pool.query(
    `SELECT namespace, name, count(*)::int AS n FROM watch_events WHERE kind = 'Task' AND type = 'ADDED' GROUP BY 1, 2 HAVING count(*) > 1`,
  );
  for (const r of twice.rows) out.push(`task ${r.namespace}/${r.name} created ${r.n} times`);
  const nodes = await pool.query(
    `SELECT n.name, n.spec->'capacity' AS cap,
            COALESCE(sum((t.spec->'resources'->>'cpu')::float8), 0) AS cpu,
            COALESCE(sum((t.spec->'resources'->>'memoryMiB')::float8), 0) AS mem,
            COALESCE(sum((t.spec->'resources'->>'gpu')::float8), 0) AS gpu,
            COALESCE(sum((t.annotations->>'scheduling.eiaas.io/load')::float8), 0) AS load
     FROM edge_nodes n JOIN tasks t ON t.node_name = n.name AND t.phase NOT IN ('Succeeded', 'Failed')
     GROUP BY n.name, n.spec`,
  );
  for (const r of nodes.rows) {
    const cap = r.cap ?? {};
    if (r.cpu > (cap.cpu ?? 0) + 1e-9) out.push(`node ${r.name}: cpu ${r.cpu} > ${cap.cpu}`);
    if (r.mem > (cap.memoryMiB ?? 0) + 1e-9) out.push(`node ${r.name}: memory ${r.mem} > ${cap.memoryMiB}`);
    if (r.gpu > (cap.gpu ?? 0) + 1e-9) out.push(`node ${r.name}: gpu ${r.gpu} > ${cap.gpu}`);
    const loadCap = (cap.gpu ?? 0) > 0 ? cap.gpu : 1;
    if (r.load > loadCap + 1e-9) out.push(`node ${r.name}: load ${r.load} > ${loadCap}`);
  }
  const tenants = await pool.query(
    `SELECT tn.name, tn.spec->'quota' AS quota, count(t.uid)::int AS tasks,
            COALESCE(sum((t.spec->'resources'->>'cpu')::float8), 0) AS cpu,
            COALESCE(sum((t.spec->'resources'->>'memoryMiB')::float8), 0) AS mem
     FROM tenants tn JOIN tasks t ON t.namespace = tn.name AND t.phase NOT IN ('Succeeded', 'Failed')
     GROUP BY tn.name, tn.spec`,
  );
  for (const r of tenants.rows) {
    const q = r.quota ?? {};
    if (q.cpu !== undefined && r.cpu > q.cpu + 1e-9) out.push(`tenant ${r.name}: cpu ${r.cpu} > quota ${q.cpu}`);
    if (q.memoryMiB !== undefined && r.mem > q.memoryMiB + 1e-9) out.push(`tenant ${r.name}: memory ${r.mem} > quota ${q.memoryMiB}`);
    if (q.tasks !== undefined && r.tasks > q.tasks) out.push(`tenant ${r.name}: ${r.tasks} tasks > quota ${q.tasks}`);
  }
  if (jobs) {
    const tasks = await pool.query<{ uid: string; node_name: string; attempt: number }>(`SELECT uid::text, node_name, attempt FROM tasks`);
    const byUid = new Map(tasks.rows.map((t) => [t.uid, t]));
    const seen = new Map<string, string>();
    for (const [node, ids] of jobs) {
      for (const id of ids) {
        const uid = id.slice(0, id.lastIndexOf("."));
        const other = seen.get(uid);
        if (other !== undefined && other !== node) out.push(`task ${uid} has jobs on node.${other} and node.${node}`);
        seen.set(uid, node);
        const t = byUid.get(uid);
        if (t && t.node_name !== node) out.push(`job ${id} on node.${node} but its task is bound to ${t.node_name}`);
      }
    }
  }
  return out;
}
