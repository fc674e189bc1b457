// Test-only (`@eiaas/testing/control-plane`): a control plane for the end-to-end and fault tests, in one process on real
// Postgres and Redis — the API over a cloned test database (listening on a real socket, as agents
// need), a Scheduler on the same database, BullMQ queues on Redis under a key prefix of their own,
// and two kinds of node agents: real ones (apps/agent, tasks run in a simulated runtime) and
// protocol-level ones (./protocol-agent.ts). Every helper the tests share is exported from here.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import request from "supertest";
import { FileCredentialStore, NodeAgent, type AgentOptions } from "@eiaas/agent";
import { API_PREFIX, type EdgeNodeSpecInput } from "@eiaas/api";
import { createDatabase, ObjectStore, type Database } from "@eiaas/db";
import { createPostgresLeaseStore, createRedisQueueBackend, type LeaseStore, type QueueBackend, type RedisQueueBackendOptions } from "@eiaas/queue";
import { SimulatedRuntime } from "@eiaas/runtime";
import { Scheduler, type SchedulerOptions } from "@eiaas/scheduler";
import { startTestApi, type TestApi, type TestApiOverrides } from "../api-server.js";
import { testRedisUrl } from "../database.js";
import { captureLogger, type CapturedLog } from "../wait.js";
import { startProtocolAgent, type ProtocolAgent } from "./protocol-agent.js";

export { bindingViolations } from "./binding-violations.js";
export { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, V, waitFor } from "./fixtures.js";
export type { ProtocolAgent } from "./protocol-agent.js";
export { captureLogger, type CapturedLog } from "../wait.js";

export interface ControlPlaneOptions {
  /** Redis for the queues. @defaultValue the test run's (`testRedisUrl()`) */
  redisUrl?: string;
  /**
   * The scheduler's options, over `{ resyncMs: 200 }`; `false` runs no scheduler (the test builds
   * its own, e.g. to crash and restart it). @defaultValue `{ resyncMs: 200 }`
   */
  scheduler?: SchedulerOptions | false;
  /**
   * Create the scheduler but leave `scheduler.start()` to the test (e.g. once its nodes and models
   * exist). @defaultValue false — the scheduler runs before `startControlPlane` returns
   */
  deferSchedulerStart?: boolean;
  /** Overrides for the API (rate limit, queue credentials, a database of the test's own, ...). @defaultValue none */
  api?: TestApiOverrides;
  /**
   * Options of both queue transports, over the harness's: key prefix `bull-<random hex>` (pass
   * `prefix: "bull"` for the prefix agents' Redis ACLs assume), `retryDelayMs: 100`, and for the
   * agents' transport `lockDurationMs: 5000`, `stalledIntervalMs: 2000`, `idlePollSeconds: 2`.
   */
  queue?: Partial<RedisQueueBackendOptions>;
}

export interface ControlPlane {
  api: TestApi;
  /** Base URL of the listening API (what real agents connect to). */
  url: string;
  db: Database;
  store: ObjectStore;
  leases: LeaseStore;
  /** The scheduler's queue transport (producer side). */
  queue: QueueBackend;
  /** The agents' queue transport, shared by all agents of both kinds (as SimulatedFleet shares one). */
  agentQueue: QueueBackend;
  /** The queues' Redis key prefix. */
  prefix: string;
  /** Absent with `scheduler: false`. */
  scheduler?: Scheduler;
  schedulerLog: CapturedLog;
  /** What the real agents log. */
  agentLog: CapturedLog;
  /** The runtime the real agents run their tasks in. */
  runtime: SimulatedRuntime;
  /** Running real agents by node name. */
  agents: Map<string, NodeAgent>;
  /** Running protocol agents by node name. */
  protocolAgents: Map<string, ProtocolAgent>;
  /** The admin's Authorization header. */
  admin(): { Authorization: string };
  /** POSTs `obj` to `path` (below the API prefix) as admin; throws unless 201. Returns the created object. */
  apply(path: string, obj: object): Promise<any>;
  /** GETs `path` (below the API prefix) as admin; throws unless 200. Returns the body. */
  get(path: string): Promise<any>;
  /**
   * Registers node `name` and starts a real agent for it: 8 slots, heartbeats every 200 ms, restart
   * grace 2 s, tasks in {@link ControlPlane.runtime}; `agentOptions` override any of these.
   */
  startAgent(name: string, spec: EdgeNodeSpecInput, labels?: Record<string, string>, agentOptions?: Partial<AgentOptions>): Promise<NodeAgent>;
  /** Registers node `name` and starts a protocol-level agent for it (see `startProtocolAgent`). */
  startProtocolAgent(name: string, spec: EdgeNodeSpecInput, labels?: Record<string, string>): Promise<ProtocolAgent>;
  /** Stops the agent (of either kind) of node `name`, if one runs. */
  stopAgent(name: string): Promise<void>;
  /** Stops the scheduler, every agent, the queues, the database pool and the API (dropping its database). */
  close(): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const redisUrl = options.redisUrl ?? testRedisUrl();
  const api = await startTestApi(options.api ?? {});
  const url = await api.listen();
  const db = createDatabase(api.db.url, { poolSize: 5 });
  const store = new ObjectStore(db.pool);
  const leases = createPostgresLeaseStore(db.pool);
  const prefix = options.queue?.prefix ?? `bull-${randomBytes(4).toString("hex")}`;
  const schedulerLog = captureLogger("scheduler");
  const agentLog = captureLogger("agent");
  const queue = createRedisQueueBackend({ url: redisUrl, prefix, retryDelayMs: 100, ...options.queue });
  const agentQueue = createRedisQueueBackend({ url: redisUrl, prefix, retryDelayMs: 100, lockDurationMs: 5_000, stalledIntervalMs: 2_000, idlePollSeconds: 2, ...options.queue });
  const scheduler =
    options.scheduler === false ? undefined : new Scheduler({ databaseUrl: api.db.url, pool: db.pool, store, queue, leases, logger: schedulerLog.logger }, { resyncMs: 200, ...options.scheduler });
  const runtime = new SimulatedRuntime();
  const agents = new Map<string, NodeAgent>();
  const protocolAgents = new Map<string, ProtocolAgent>();
  const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });
  // One bootstrap token for every node the test starts; restarted agents renew with the
  // credential they kept, as real ones do.
  const bootstrap = await api.tokens.mint({ role: "bootstrap", maxUses: null });
  const stateDir = await mkdtemp(join(tmpdir(), "eiaas-agents-"));
  const credentials = new FileCredentialStore(stateDir);
  if (!options.deferSchedulerStart) scheduler?.start();
  const stopAgent = async (name: string) => {
    await agents.get(name)?.stop();
    agents.delete(name);
    await protocolAgents.get(name)?.stop();
    protocolAgents.delete(name);
  };
  return {
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
    runtime,
    agents,
    protocolAgents,
    admin,
    apply: async (path, obj) => {
      const r = await request(api.app).post(`${API_PREFIX}${path}`).set(admin()).send(obj);
      if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    get: async (path) => {
      const r = await request(api.app).get(`${API_PREFIX}${path}`).set(admin());
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    startAgent: async (name, spec, labels = {}, agentOptions = {}) => {
      const agent = new NodeAgent({
        nodeName: name,
        spec,
        labels,
        connection: { server: url, token: bootstrap.token },
        credentials,
        runtime,
        slots: 8,
        queue: agentQueue,
        heartbeatMs: 200,
        restartGraceMs: 2_000,
        logger: agentLog.logger,
        ...agentOptions,
      });
      await agent.start();
      agents.set(name, agent);
      return agent;
    },
    startProtocolAgent: async (name, spec, labels = {}) => {
      const agent = await startProtocolAgent({ api, queue: agentQueue, bootstrapToken: bootstrap.token }, name, spec, labels);
      protocolAgents.set(name, agent);
      return agent;
    },
    stopAgent,
    close: async () => {
      await scheduler?.stop();
      for (const a of agents.values()) await a.stop().catch(() => undefined);
      for (const a of protocolAgents.values()) await a.stop().catch(() => undefined);
      await runtime.close();
      await agentQueue.close({ force: true });
      await queue.close({ force: true });
      await db.close();
      await api.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
