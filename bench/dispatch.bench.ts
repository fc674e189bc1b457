/**
 * `npm run bench:dispatch`: the control plane's dispatch path on simulated fleets of 1,000 and
 * 5,000 nodes, on a real PostgreSQL (embedded, durable: fsync on) and a redis-server this script
 * starts, beside the raw limits of those same two services measured in the same run.
 *
 *  1. bound+enqueued tasks/s: workloads are inserted Pending straight into Postgres, then the
 *     scheduler's own code runs back to back — WorkloadController.cycle (bring the cluster cache
 *     up to date, plan, bind every plan in one transaction with its tasks committed Dispatched,
 *     fold status) and Dispatcher.enqueueBound (BullMQ addBulk across the node queues) — until a
 *     cycle finds nothing to plan. The rate is tasks / wall time of those calls, in this process
 *     (no API, no agents).
 *  2. create→Running at a fixed arrival rate: the API server and the scheduler run as their own
 *     processes (`apps/api-server/src/main.ts` over HTTPS, `apps/scheduler/src/main.ts`, both on
 *     Redis); this process POSTs InferenceServices through the API at a fixed rate (≈ 500 tasks/s)
 *     and runs one lightweight consumer per node (libs/queue's consumer on one multiplexed Redis
 *     backend, as the simulated fleet shares) that reports each task Running through the API
 *     (PUT .../tasks/{name}/status, the agent's report). Latency per task = the moment that
 *     report is acknowledged − the moment its workload's POST was sent; p50/p99 over all tasks.
 *  3. raw limits on the same services: BullMQ `addBulk` jobs/s (batches of 1,000 into one queue)
 *     and Postgres single-row insert transactions/s (10 connections, autocommit), with the ratios.
 *
 * Nodes are written straight into Postgres (Ready, no agent process each): the figures are about
 * planning, binding and dispatch, not about 5,000 heartbeating agents. Env: BENCH_FLEETS
 * (default "1000,5000"), BENCH_RATE (tasks/s, default 500), BENCH_DURATION_S (default 20, measured
 * after BENCH_WARMUP_S, default 20, of arrivals at the same rate that are not counted, nor is the
 * CPU they took: the API server and scheduler start cold for each fleet on a fresh database, and
 * their first seconds run unoptimised code — the figures are for a control plane that has been
 * running; the cold start is reported on its own line, and the "slowest task by second of
 * arrival" line shows it second by second. 20 s because the cold start's backlog took 6-10 s to
 * drain at 500 tasks/s, and with 10 s it was still draining into the measured window in some runs),
 * BENCH_CHILD_FLAGS (node flags for the API server and scheduler), BENCH_PG_SETTINGS
 * ("name=value,…" for Postgres), BENCH_PG_STATS=1 (statements, tables and watch log by kind),
 * BENCH_STAGES (default "bind,latency,raw").
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import pg from "pg";
import { API_VERSION, edgeNodeSpec, inferenceServiceSpec, kindInfo, modelSpec, trainingJobSpec, type KindInfo } from "@eiaas/api";
import { applyMigrations, createDatabase, ensureDatabase, freePort, ObjectStore, startEmbeddedPostgres, type StoredObject } from "@eiaas/db";
import { createRedisLeaseStore, createRedisQueueBackend, type QueueConsumer } from "@eiaas/queue";
import { createLogger } from "@eiaas/telemetry";
import { startRedis } from "@eiaas/testing";
import { Redis } from "ioredis";
import { Scheduler } from "../apps/scheduler/src/scheduler.js";

const FLEETS = (process.env.BENCH_FLEETS ?? "1000,5000").split(",").map(Number);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 20);
/** Arrivals at the same rate before the measured ones (cold queues, connections, JIT); not counted. */
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 20);
const STAGES = new Set((process.env.BENCH_STAGES ?? "bind,latency,raw").split(","));
const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const MODEL = kindInfo("Model");
const ISVC = kindInfo("InferenceService");
const TJ = kindInfo("TrainingJob");
const NS = "bench";
const CLIENTS_PER_SERVICE = Number(process.env.BENCH_CLIENTS ?? 5);

const started = performance.now();
const log = (msg: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

// ---------------------------------------------------------------------------------------------
// Services: one durable embedded PostgreSQL, one redis-server.
const pgDir = await mkdtemp(join(tmpdir(), "eiaas-bench-pg-"));
const dataDir = await mkdtemp(join(tmpdir(), "eiaas-bench-dispatch-"));
// BENCH_PG_STATS=1: load pg_stat_statements and print where Postgres spent its time per stage.
const PG_STATS = process.env.BENCH_PG_STATS === "1";
// BENCH_PG_SETTINGS="name=value,…": more Postgres settings, for trying them against the defaults.
const extraPgSettings = Object.fromEntries((process.env.BENCH_PG_SETTINGS ?? "").split(",").filter(Boolean).map((kv) => kv.split("=", 2) as [string, string]));
const pgSettings = { ...(PG_STATS ? { shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track_planning": "on" } : {}), ...extraPgSettings };
const pgServer = await startEmbeddedPostgres({ dataDir: pgDir, port: await freePort(), persistent: false, maxConnections: 300, settings: pgSettings });
const redis = await startRedis();
const children: ChildProcess[] = [];
const cleanup = async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await redis.stop().catch(() => undefined);
  await pgServer.stop().catch(() => undefined);
  await rm(pgDir, { recursive: true, force: true });
  await rm(dataDir, { recursive: true, force: true });
};
process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));

const stageDatabases: string[] = [];

/**
 * A database of its own for each stage, the previous stages' dropped first: their tables, full of
 * rows the stage updated, would otherwise be vacuumed by autovacuum during the next stage. Redis is
 * emptied too: the bind stage leaves its dispatch jobs in node queues of the same names, which the
 * latency stage's agents would otherwise take and report (404s) through its cold start.
 */
async function freshDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: pgServer.url("postgres") });
  await admin.connect();
  try {
    for (const old of stageDatabases.splice(0)) await admin.query(`DROP DATABASE IF EXISTS "${old}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const r = new Redis(redis.url);
  try {
    await r.flushall();
  } finally {
    r.disconnect();
  }
  stageDatabases.push(name);
  await ensureDatabase(pgServer.url("postgres"), name);
  const url = pgServer.url(name);
  await applyMigrations(url);
  return url;
}

// ---------------------------------------------------------------------------------------------
// The fleet: per 100 nodes, 10 edge servers and 90 devices in one region (its clouds apart); 5
// devices per client group. A service serves one group, on servers of its region (nodeSelector).
interface Fleet {
  nodes: number;
  groups: string[];
  regionOf: Map<string, string>;
}

function fleetObjects(store: ObjectStore, size: number): { objects: StoredObject[]; fleet: Fleet } {
  const objects: StoredObject[] = [];
  const regionOf = new Map<string, string>();
  const groups: string[] = [];
  const clouds = Math.max(1, Math.round(size / 500));
  const node = (name: string, labels: Record<string, string>, spec: Record<string, unknown>) =>
    objects.push(
      store.prepareCreate(NODE, {
        apiVersion: API_VERSION,
        metadata: { name, labels },
        // Defaults filled as the API's validation does.
        spec: edgeNodeSpec.parse(spec),
        status: { phase: "Ready", conditions: [{ type: "Ready", status: "True", reason: "AgentHeartbeat", message: "", lastTransitionTime: new Date().toISOString() }] },
      } as any),
    );
  for (let c = 0; c < clouds; c++) node(`cloud-${c}`, { tier: "cloud" }, { tier: "cloud", hardware: "a100", capacity: { cpu: 256_000, memoryMiB: 1_048_576, gpu: 8 }, compute: { gflops: 20_000 } });
  const regions = Math.floor((size - clouds) / 100);
  let devices = 0;
  for (let r = 0; r < regions; r++) {
    const region = `r${r}`;
    for (let e = 0; e < 10; e++) {
      node(`edge-${r}-${e}`, { tier: "edge", region }, {
        tier: "edge",
        parent: `cloud-${r % clouds}`,
        hardware: "rtx3060",
        capacity: { cpu: 64_000, memoryMiB: 131_072, gpu: 1 },
        compute: { gflops: 2_000 },
        network: { uplinkMbps: 1000, downlinkMbps: 1000, rttMs: 5 },
      });
    }
    const perRegion = r === regions - 1 ? size - clouds - regions * 10 - devices : 90;
    for (let d = 0; d < perRegion; d++) {
      const name = `dev-${r}-${d}`;
      const group = `g-${r}-${Math.floor(d / CLIENTS_PER_SERVICE)}`;
      if (d % CLIENTS_PER_SERVICE === 0) {
        groups.push(group);
        regionOf.set(group, region);
      }
      node(name, { tier: "device", region, group }, {
        tier: "device",
        parent: `edge-${r}-${d % 10}`,
        hardware: "rpi4",
        capacity: { cpu: 64_000, memoryMiB: 65_536 },
        compute: { gflops: 10 },
        power: { computeW: 5, transmitW: 1.5 },
        network: { uplinkMbps: 50, downlinkMbps: 100, rttMs: 4 },
      });
      devices++;
    }
  }
  return { objects, fleet: { nodes: objects.length, groups, regionOf } };
}

const MODEL_SPEC = {
  inputBytes: 150_528,
  accuracy: 0.72,
  layers: Array.from({ length: 8 }, (_, i) => ({ name: `l${i}`, flops: 5e7 * (1 + (i % 3)), outputBytes: Math.round(200_000 / (i + 1)), memoryMiB: 2 })),
};

function serviceObject(name: string, group: string, region: string) {
  return {
    apiVersion: API_VERSION,
    kind: "InferenceService",
    metadata: { name, namespace: NS },
    spec: {
      model: "m",
      clients: { selector: { matchLabels: { group } }, requestsPerSecond: 0.5 },
      resources: { cpu: 10, memoryMiB: 16 },
      nodeSelector: { region },
    },
  };
}

async function insertBatched(store: ObjectStore, kind: KindInfo, objects: StoredObject[]): Promise<void> {
  for (let i = 0; i < objects.length; i += 1000) {
    await store.applyBatch(objects.slice(i, i + 1000).map((object) => ({ type: "create" as const, kind, object })));
  }
}

async function seed(store: ObjectStore, size: number): Promise<Fleet> {
  await store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: NS }, spec: {} } as any);
  await store.create(MODEL, { apiVersion: API_VERSION, metadata: { name: "m", namespace: NS }, spec: modelSpec.parse(MODEL_SPEC) } as any);
  const { objects, fleet } = fleetObjects(store, size);
  await insertBatched(store, NODE, objects);
  return fleet;
}

const quiet = createLogger({ name: "bench", level: "silent" });

// ---------------------------------------------------------------------------------------------
// 1. Pending → bound + enqueued, the scheduler's own code in this process.
type Mix = "services" | "federated";

interface BindResult {
  mix: Mix;
  nodes: number;
  workloads: number;
  tasks: number;
  seconds: number;
  cycles: number;
  cycleSeconds: number;
}

/**
 * `services`: one InferenceService per group of devices (a tail on an edge server per client);
 * `federated`: one federated TrainingJob per region (every device of it a participant, plus an
 * aggregator) — the same tasks in a few large gangs instead of many small workloads.
 */
async function bindStage(size: number, mix: Mix): Promise<BindResult> {
  const url = await freshDatabase(`bind_${mix}_${size}`);
  const db = createDatabase(url, { poolSize: 10 });
  const store = new ObjectStore(db.pool);
  const fleet = await seed(store, size);
  let workloads: number;
  if (mix === "services") {
    const services = fleet.groups.map((g, i) => {
      const o = serviceObject(`svc-${i}`, g, fleet.regionOf.get(g)!);
      return store.prepareCreate(ISVC, { ...o, spec: inferenceServiceSpec.parse(o.spec) } as any);
    });
    await insertBatched(store, ISVC, services);
    workloads = services.length;
  } else {
    const regions = [...new Set(fleet.regionOf.values())];
    const jobs = regions.map((region, i) =>
      store.prepareCreate(TJ, {
        apiVersion: API_VERSION,
        metadata: { name: `fl-${i}`, namespace: NS },
        spec: trainingJobSpec.parse({ model: "m", mode: "federated", data: { selector: { matchLabels: { region, tier: "device" } } }, participants: { min: 1 }, resources: { cpu: 10, memoryMiB: 16 }, nodeSelector: {} }),
      } as any),
    );
    await insertBatched(store, TJ, jobs);
    workloads = jobs.length;
  }
  const prefix = `bind-${mix}-${size}`;
  const queue = createRedisQueueBackend({ url: redis.url, prefix });
  const leaseRedis = new Redis(redis.url);
  const scheduler = new Scheduler({ databaseUrl: url, pool: db.pool, store, queue, leases: createRedisLeaseStore(leaseRedis), logger: quiet }, { gracePeriodMs: 3_600_000 });
  let cycles = 0;
  let cycleMs = 0;
  const t0 = performance.now();
  for (;;) {
    const c0 = performance.now();
    // A cycle plans, binds in chunks and enqueues what each bind committed while the next is bound.
    const stats = await scheduler.workloads.cycle();
    cycles++;
    cycleMs += performance.now() - c0;
    if (stats.dispatchError) throw stats.dispatchError;
    if (stats.planned === 0 && stats.boundTasks.length === 0) break;
    if (cycles > 50) throw new Error(`not settled after ${cycles} cycles: ${JSON.stringify(stats)}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  // Every bound task's job is really in its node's queue (BullMQ keeps each job as <prefix>:<queue>:<id>).
  let jobs = 0;
  for (let cursor = "0"; ; ) {
    const [next, keys] = await leaseRedis.scan(cursor, "MATCH", `${prefix}:node.*:*.1`, "COUNT", 5000);
    jobs += keys.length;
    if ((cursor = next) === "0") break;
  }
  const counts = await db.pool.query<{ phase: string; n: string }>(`SELECT phase, count(*) AS n FROM tasks GROUP BY phase`);
  const byPhase = Object.fromEntries(counts.rows.map((r) => [r.phase, Number(r.n)]));
  const tasks = byPhase.Dispatched ?? 0;
  const pending = Number((await db.pool.query(`SELECT (SELECT count(*) FROM inference_services WHERE phase <> 'Scheduled') + (SELECT count(*) FROM training_jobs WHERE phase <> 'Scheduled') AS n`)).rows[0].n);
  if (pending > 0 || Object.keys(byPhase).some((p) => p !== "Dispatched")) throw new Error(`bind stage left ${pending} services unplaced, tasks ${JSON.stringify(byPhase)}`);
  if (jobs !== tasks) throw new Error(`bind stage: ${tasks} tasks Dispatched but ${jobs} jobs in the node queues`);
  await queue.close();
  leaseRedis.disconnect();
  await db.close();
  return { mix, nodes: fleet.nodes, workloads, tasks, seconds, cycles, cycleSeconds: cycleMs / 1000 };
}

// ---------------------------------------------------------------------------------------------
// 2. create → Running at a fixed arrival rate, through the API (own process) and the scheduler
//    (own process), consumers in this process reporting Running through the API.
interface LatencyResult {
  nodes: number;
  offeredTasksPerSec: number;
  services: number;
  /** Tasks of the measured (post-warm-up) services, and how many were reported Running. */
  tasks: number;
  running: number;
  /** From the first measured arrival to the last report (for the achieved rate). */
  seconds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** create → the job reached its node's consumer (API create, scheduler cycle, bind, enqueue). */
  toJob: { p50: number; p99: number };
  /** the consumer's Running report through the API (HTTPS PUT of the status subresource). */
  report: { p50: number; p99: number };
  /** POST of the service → its 201. */
  create: { p50: number; p99: number };
  /** The scheduler's own cycle count and mean duration (from its /metrics). */
  cycles: { count: number; meanMs: number; over250ms: number; over500ms: number; unschedulable: number; errors: number };
  /** Share of the machine's CPU time busy while the stage ran (all processes). */
  machineBusy: number;
  /** CPU ms per task by process role, over the measured window. */
  cpuPerTask: Array<[string, number]>;
  /**
   * The cold start, from the warm-up's arrivals: its slowest task, and the first second of arrival
   * whose slowest task took under 500 ms (undefined: none in the run).
   */
  coldStart: { slowestMs: number; settledAtS: number | undefined };
}

/**
 * CPU jiffies used so far by the processes of this run, by role: the API server, the scheduler,
 * this process (the load generator and the simulated agents), Postgres (every backend) and Redis.
 * Processes that ended meanwhile are missed (short-lived Postgres backends: few, pools are kept).
 */
/** Names of the other processes `processCpu` saw, by pid. */
const otherNames = new Map<string, string>();

function processCpu(roles: { api: number; scheduler: number }, others?: Map<string, number>): Map<string, number> {
  // Synchronous: read between two arrivals, an awaited read of every /proc entry on the busy
  // event loop took long enough to hold arrivals back and send them as one burst.
  const out = new Map<string, number>();
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const pid of pids) {
    if (!/^\d+$/.test(pid)) continue;
    let stat = "";
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const jiffies = Number(f[11]) + Number(f[12]);
    const n = Number(pid);
    const role = n === roles.api ? "API" : n === roles.scheduler ? "scheduler" : n === process.pid ? "bench (load + agents)" : name === "postgres" ? "Postgres" : name.startsWith("redis-server") ? "Redis" : undefined;
    if (role) out.set(role, (out.get(role) ?? 0) + jiffies);
    else if (others) {
      // By pid: a kernel worker's name changes with its work item.
      others.set(pid, jiffies);
      otherNames.set(pid, name.replace(/-.*/, ""));
    }
  }
  return out;
}

/** Busy and total jiffies of all CPUs so far (/proc/stat), for the machine's utilisation. */
function cpuTimes(): { busy: number; total: number } {
  let text = "";
  try {
    text = readFileSync("/proc/stat", "utf8");
  } catch {
    // No /proc: no utilisation figure.
  }
  const f = (text.split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

async function scrapeCycles(port: number): Promise<{ count: number; meanMs: number; over250ms: number; over500ms: number; unschedulable: number; errors: number }> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => "");
  const value = (name: string) => Number(text.match(new RegExp(`^${name}\\{result="ok"\\} (\\S+)$`, "m"))?.[1] ?? NaN);
  const count = value("eiaas_scheduler_cycle_duration_seconds_count");
  const sum = value("eiaas_scheduler_cycle_duration_seconds_sum");
  const atMost = (le: string) => Number(text.match(new RegExp(`^eiaas_scheduler_cycle_duration_seconds_bucket\\{le="${le}",result="ok"\\} (\\S+)$`, "m"))?.[1] ?? NaN);
  const attempts = (result: string) => Number(text.match(new RegExp(`^eiaas_scheduling_attempts_total\\{result="${result}"\\} (\\S+)$`, "m"))?.[1] ?? 0);
  return { count, meanMs: (1000 * sum) / count, over250ms: count - atMost("0.25"), over500ms: count - atMost("0.5"), unschedulable: attempts("unschedulable"), errors: attempts("error") };
}

const ADMIN_TOKEN = "bench-dispatch-admin-token-0123456789";
const agent = new https.Agent({ keepAlive: true, maxSockets: 64, rejectUnauthorized: false });

function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}${path}`, { method, agent, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function startChild(name: string, script: string, env: Record<string, string>): ChildProcess {
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${name}`] : [];
  // BENCH_CHILD_FLAGS: more node flags for the API server and scheduler (e.g. --trace-gc, which
  // NODE_OPTIONS does not take).
  const flags = (process.env.BENCH_CHILD_FLAGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...prof, ...flags, "--import", "tsx", script], { env: { ...process.env, EIAAS_LOG_LEVEL: "warn", ...env }, stdio: ["ignore", "inherit", "inherit"] });
  child.once("exit", (code, signal) => {
    if (code !== null && code !== 0) console.error(`${name} exited with ${code ?? signal}`);
  });
  children.push(child);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
};
const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);

async function latencyStage(size: number): Promise<LatencyResult> {
  const url = await freshDatabase(`latency_${size}`);
  const db = createDatabase(url, { poolSize: 4 });
  const store = new ObjectStore(db.pool);
  const fleet = await seed(store, size);
  await db.close();
  const flush = new Redis(redis.url);
  await flush.flushall();
  flush.disconnect();

  const port = await freePort();
  const base = `https://127.0.0.1:${port}`;
  const api = startChild("api-server", "apps/api-server/src/main.ts", {
    DATABASE_URL: url,
    REDIS_URL: redis.url,
    EIAAS_PORT: String(port),
    EIAAS_HOST: "127.0.0.1",
    EIAAS_ADMIN_TOKEN: ADMIN_TOKEN,
    EIAAS_DATA_DIR: join(dataDir, `api-${size}`),
  });
  const metricsPort = await freePort();
  const scheduler = startChild("scheduler", "apps/scheduler/src/main.ts", {
    DATABASE_URL: url,
    REDIS_URL: redis.url,
    EIAAS_METRICS_PORT: String(metricsPort),
    // Nodes were written straight into Postgres, with no agent renewing a lease.
    EIAAS_NODE_GRACE_SECONDS: "3600",
  });
  for (let i = 0; ; i++) {
    const r = await call(base, "GET", "/readyz").catch(() => ({ status: 0, body: "" }));
    if (r.status === 200) break;
    if (i > 300) throw new Error("the API server did not become ready");
    await new Promise((res) => setTimeout(res, 100));
  }

  // One consumer per node on one multiplexed Redis backend; each reports its task Running.
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  /** [when the workload's POST was sent, latency] of each task (warm-up too): the slowest per second. */
  const byArrival: Array<[number, number]> = [];
  /** Services created after the warm-up: only their tasks' latencies count. */
  const measured = new Set<string>();
  let reported = 0;
  let lastReportAt = 0;
  const toJob: number[] = [];
  const reports: number[] = [];
  const consumerQueue = createRedisQueueBackend({ url: redis.url });
  const consumers: QueueConsumer[] = [];
  const names = (await pgNodeNames(url)).sort();
  for (const n of names) {
    consumers.push(
      consumerQueue.consumeNodeQueue(
        n,
        async (job) => {
          const received = performance.now();
          // As the agent reports: retried on 409 (a scheduler write in between) and 429/5xx.
          let r = { status: 0, body: "" };
          for (let attempt = 0; attempt < 8; attempt++) {
            r = await call(base, "PUT", `/apis/eiaas.io/v1alpha1/namespaces/${job.namespace}/tasks/${job.name}/status`, {
              apiVersion: API_VERSION,
              kind: "Task",
              metadata: { name: job.name },
              status: { phase: "Running", attempt: job.attempt, startTime: new Date().toISOString() },
            });
            if (r.status !== 409 && r.status !== 429 && r.status < 500) break;
            await new Promise((res) => setTimeout(res, 20 * 2 ** attempt));
          }
          const done = performance.now();
          if (r.status !== 200) throw new Error(`report Running: ${r.status} ${r.body.slice(0, 200)}`);
          reported++;
          lastReportAt = done;
          const sent = job.owner ? sentAt.get(job.owner.name) : undefined;
          // Warm-up tasks too: the line shows the cold start.
          if (sent !== undefined) byArrival.push([sent, done - sent]);
          const t0 = job.owner && measured.has(job.owner.name) ? sent : undefined;
          if (t0 !== undefined) {
            latencies.push(done - t0);
            toJob.push(received - t0);
            reports.push(done - received);
          }
        },
        { concurrency: 4 },
      ),
    );
  }
  await Promise.all(consumers.map((c) => c.waitUntilReady()));
  log(`  ${names.length} node consumers ready; API and scheduler up`);

  // Arrivals: services of ${CLIENTS_PER_SERVICE} clients (≈ ${CLIENTS_PER_SERVICE} tasks each) at RATE tasks/s.
  const perSecond = RATE / CLIENTS_PER_SERVICE;
  const warmup = Math.round(perSecond * WARMUP_S);
  const total = warmup + Math.round(perSecond * DURATION_S);
  const roles = { api: api.pid ?? -1, scheduler: scheduler.pid ?? -1 };
  // CPU is counted from the first measured arrival: the warm-up's cold code is not in the figures.
  let cpu0 = cpuTimes();
  let proc0 = processCpu(roles);
  let measuredFrom = performance.now();
  const t0 = performance.now();
  const posts: Promise<void>[] = [];
  const createMs: number[] = [];
  // BENCH_TIMELINE=1: every second, each process's CPU (% of one core), the machine's, and the tasks
  // reported Running — to see which process was busy or idle when latency rose.
  const timeline: string[] = [];
  const sample = () => {
    const others = new Map<string, number>();
    return { at: performance.now(), cpu: cpuTimes(), proc: processCpu(roles, others), others, reported };
  };
  let tick = sample();
  const timer = process.env.BENCH_TIMELINE === "1"
    ? setInterval(() => {
        const now = sample();
        // Jiffies are 1/100 s: per second of wall time, 100 is one core.
        const seconds = (now.at - tick.at) / 1000;
        const share = (role: string) => Math.round(((now.proc.get(role) ?? 0) - (tick.proc.get(role) ?? 0)) / seconds);
        const roleText = [...now.proc.keys()].map((r) => `${r.split(" ")[0]} ${share(r)}`).join(" ");
        // Other processes (kernel threads included) that took 5% of a core or more.
        const otherText = [...now.others]
          .map(([pid, j]) => [`${otherNames.get(pid)}[${pid}]`, Math.round((j - (tick.others.get(pid) ?? 0)) / seconds)] as const)
          .filter(([, pct]) => pct >= 5)
          .map(([name, pct]) => ` ${name} ${pct}`)
          .join("");
        timeline.push(`${Math.round((now.at - t0) / 1000)}: busy ${Math.round((100 * (now.cpu.busy - tick.cpu.busy)) / Math.max(1, now.cpu.total - tick.cpu.total))}% | ${roleText}${otherText} | reported ${now.reported - tick.reported}`);
        tick = now;
      }, 1000)
    : undefined;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (i === warmup) {
      [cpu0, proc0] = [cpuTimes(), processCpu(roles)];
      measuredFrom = performance.now();
    }
    const group = fleet.groups[i % fleet.groups.length]!;
    const name = `lat-${i}`;
    sentAt.set(name, performance.now());
    if (i >= warmup) measured.add(name);
    posts.push(
      call(base, "POST", `/apis/eiaas.io/v1alpha1/namespaces/${NS}/inferenceservices`, serviceObject(name, group, fleet.regionOf.get(group)!)).then((r) => {
        if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.body.slice(0, 200)}`);
        if (i >= warmup) createMs.push(performance.now() - sentAt.get(name)!);
      }),
    );
  }
  await Promise.all(posts);
  // Done when every service is Running and every task of theirs was reported (two clients may
  // share a server's task, so a service has up to CLIENTS_PER_SERVICE tasks).
  const check = new pg.Client({ connectionString: url });
  await check.connect();
  let expected = total * CLIENTS_PER_SERVICE;
  const deadline = performance.now() + 90_000;
  // The counts scan every service and task: asked only once the reports have paused, so the
  // check does not compete with the last tasks in flight.
  let seen = -1;
  while (performance.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    if (reported !== seen) {
      seen = reported;
      continue;
    }
    const r = await check.query<{ running: string; tasks: string }>(
      `SELECT (SELECT count(*) FROM inference_services WHERE phase = 'Running') AS running, (SELECT count(*) FROM tasks) AS tasks`,
    );
    expected = Number(r.rows[0]!.tasks);
    if (Number(r.rows[0]!.running) === total && reported >= expected) break;
  }
  const measuredTasks = Number(
    (await check.query<{ n: string }>(`SELECT count(*) AS n FROM tasks WHERE owner_references->0->>'name' = ANY($1::text[])`, [[...measured]])).rows[0]!.n,
  );
  await check.end();
  // From the first measured arrival up to the last report (the check above notices the end a
  // little later).
  const seconds = (lastReportAt - measuredFrom) / 1000;
  const cycles = await scrapeCycles(metricsPort);
  const cpu1 = cpuTimes();
  const proc1 = processCpu(roles);
  // ms of CPU per task (jiffies are 1/100 s on Linux).
  // Per task of the measured services (the warm-up's last tasks finish in the window, the measured
  // ones' last reports are in it: near enough at this rate).
  const cpuPerTask = [...proc1].map(([role, j]) => [role, ((j - (proc0.get(role) ?? 0)) * 10) / Math.max(1, measuredTasks)] as [string, number]);
  const machineBusy = cpu1.total > cpu0.total ? (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total) : NaN;
  const sorted = [...latencies].sort((a, b) => a - b);
  if (PG_STATS) await printStatements(url);
  // When the slow tasks arrived: a backlog from the cold start draining, or a stall later on.
  const slowest = new Map<number, number>();
  for (const [sent, ms] of byArrival) {
    const second = Math.floor((sent - t0) / 1000);
    slowest.set(second, Math.max(slowest.get(second) ?? 0, ms));
  }
  if (timer) {
    clearInterval(timer);
    log(`  timeline (second: machine busy | % of one core by process | tasks reported Running):\n    ${timeline.join("\n    ")}`);
  }
  const bySecond = [...slowest].sort((a, b) => a[0] - b[0]);
  log(`  slowest task by second of arrival (s:ms): ${bySecond.map(([sec, ms]) => `${sec}:${Math.round(ms)}`).join(" ")}`);
  const settledAtS = bySecond.find(([, ms]) => ms < 500)?.[0];
  const coldStart = { slowestMs: Math.max(0, ...bySecond.filter(([sec]) => sec < WARMUP_S).map(([, ms]) => ms)), settledAtS };
  await Promise.all(consumers.map((c) => c.close({ force: true })));
  await consumerQueue.close({ force: true });
  await stopChild(scheduler);
  await stopChild(api);
  return {
    nodes: fleet.nodes,
    offeredTasksPerSec: RATE,
    services: total - warmup,
    tasks: measuredTasks,
    running: latencies.length,
    seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    toJob: summary(toJob),
    create: summary(createMs),
    report: summary(reports),
    cycles,
    machineBusy,
    cpuPerTask,
    coldStart,
  };
}

/** The statements Postgres spent most time on in this database (pg_stat_statements). */
async function printStatements(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    const r = await c.query<{ ms: number; plan: number; calls: string; rows: string; q: string }>(
      `SELECT round(total_exec_time)::int AS ms, round(total_plan_time)::int AS plan, calls::text, rows::text, left(regexp_replace(regexp_replace(query, '\\s+', ' ', 'g'), '^WITH rv AS \\(UPDATE resource_version_counter SET value = value \\+ \\$\\d+(::bigint)? WHERE id = \\$\\d+ RETURNING value - \\$\\d+(::bigint)? AS base\\)', 'WITH rv … '), 150) AS q
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() ORDER BY total_exec_time + total_plan_time DESC LIMIT 25`,
    );
    console.log("  Postgres time by statement (execution ms, planning ms, calls, rows):");
    for (const row of r.rows) console.log(`    ${String(row.ms).padStart(7)} ${String(row.plan).padStart(7)} ${row.calls.padStart(7)} ${row.rows.padStart(8)}  ${row.q}`);
    const t = await c.query<{ relname: string; upd: string; hot: string; ins: string; seq: string; seqrows: string; vac: string; an: string }>(
      `SELECT relname, n_tup_upd::text AS upd, n_tup_hot_upd::text AS hot, n_tup_ins::text AS ins, seq_scan::text AS seq, seq_tup_read::text AS seqrows,
              (vacuum_count + autovacuum_count)::text AS vac, (analyze_count + autoanalyze_count)::text AS an
       FROM pg_stat_user_tables WHERE n_tup_upd + n_tup_ins + seq_tup_read > 0 ORDER BY n_tup_upd + n_tup_ins + seq_tup_read DESC LIMIT 10`,
    );
    console.log("  Rows by table (inserted, updated, of which heap-only; sequential scans, rows they read; vacuums, analyzes):");
    for (const row of t.rows) console.log(`    ${row.ins.padStart(8)} ${row.upd.padStart(8)} ${row.hot.padStart(8)} ${row.seq.padStart(7)} ${row.seqrows.padStart(10)} ${row.vac.padStart(4)} ${row.an.padStart(4)}  ${row.relname}`);
    const w = await c.query<{ records: string; fpi: string; mb: string; syncs: string; checkpoints: string }>(
      `SELECT wal_records::text AS records, wal_fpi::text AS fpi, round(wal_bytes / 1048576.0)::text AS mb, wal_sync::text AS syncs, (SELECT num_timed + num_requested FROM pg_stat_checkpointer)::text AS checkpoints FROM pg_stat_wal`,
    );
    const wr = w.rows[0]!;
    console.log(`  WAL (whole server): ${wr.records} records, ${wr.fpi} full-page images, ${wr.mb} MB, ${wr.syncs} syncs; ${wr.checkpoints} checkpoints`);
    const s = await c.query<{ kind: string; type: string; n: string; text: string; stored: string }>(
      `SELECT kind, type, count(*)::text AS n, round(avg(length(object::text)))::text AS text, round(avg(pg_column_size(object)))::text AS stored FROM watch_events GROUP BY 1, 2 ORDER BY count(*) DESC`,
    );
    console.log("  Watch log (events, mean bytes as JSON text, mean bytes stored):");
    for (const row of s.rows) console.log(`    ${row.n.padStart(8)} ${row.text.padStart(6)} ${row.stored.padStart(6)}  ${row.kind} ${row.type}`);
  } finally {
    await c.end();
  }
}

async function pgNodeNames(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ name: string }>("SELECT name FROM edge_nodes")).rows.map((r) => r.name);
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. The raw limits of the same Redis and Postgres.
async function rawStage(): Promise<{ addBulkJobsPerSec: number; insertTxPerSec: number }> {
  const q = new Queue("bench-raw", { connection: { url: redis.url } as any, prefix: "raw" });
  const batch = Array.from({ length: 1000 }, (_, i) => ({ name: "task", data: { namespace: NS, name: `t-${i}`, uid: randomUUID(), attempt: 1, nodeName: "dev-0-0", role: "serve", env: {}, template: {}, resources: { cpu: 10, memoryMiB: 16, gpu: 0 } } }));
  await q.addBulk(batch.map((b, i) => ({ ...b, opts: { jobId: `warm-${i}` } })));
  let jobs = 0;
  const r0 = performance.now();
  for (let round = 0; round < 20; round++) {
    await q.addBulk(batch.map((b, i) => ({ ...b, opts: { jobId: `${round}-${i}`, removeOnComplete: true } })));
    jobs += batch.length;
  }
  const addBulkJobsPerSec = jobs / ((performance.now() - r0) / 1000);
  await q.obliterate({ force: true });
  await q.close();

  const url = await freshDatabase("raw");
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  await pool.query("CREATE TABLE bench_raw (id bigserial PRIMARY KEY, name text, body jsonb)");
  const body = JSON.stringify({ spec: { nodeName: "dev-0-0", role: "serve", resources: { cpu: 10, memoryMiB: 16, gpu: 0 } }, status: { phase: "Scheduled", attempt: 1 } });
  const n = 5_000;
  let next = 0;
  const p0 = performance.now();
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < n) {
        const i = next++;
        await pool.query("INSERT INTO bench_raw (name, body) VALUES ($1, $2::jsonb)", [`t-${i}`, body]);
      }
    }),
  );
  const insertTxPerSec = n / ((performance.now() - p0) / 1000);
  await pool.end();
  return { addBulkJobsPerSec, insertTxPerSec };
}

// ---------------------------------------------------------------------------------------------
const results: { bind: BindResult[]; latency: LatencyResult[]; raw?: { addBulkJobsPerSec: number; insertTxPerSec: number } } = { bind: [], latency: [] };
try {
  if (STAGES.has("raw")) {
    log("raw Redis and Postgres rates");
    results.raw = await rawStage();
  }
  for (const size of FLEETS) {
    if (STAGES.has("bind")) {
      for (const mix of ["services", "federated"] as const) {
        log(`pending → bound+enqueued, ${size} nodes, ${mix}`);
        const r = await bindStage(size, mix);
        results.bind.push(r);
        log(`  ${r.workloads} workloads → ${r.tasks} tasks in ${r.seconds.toFixed(2)} s over ${r.cycles} cycles (all of it in the cycles: plan, bind, enqueue)`);
      }
    }
    if (STAGES.has("latency")) {
      log(`create → Running at ${RATE} tasks/s for ${WARMUP_S} s of warm-up, then ${DURATION_S} s measured, ${size} nodes`);
      const r = await latencyStage(size);
      results.latency.push(r);
      log(`  ${r.running}/${r.tasks} tasks Running; p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms (create → job at its node p50 ${r.toJob.p50.toFixed(0)} / p99 ${r.toJob.p99.toFixed(0)} ms; Running report p50 ${r.report.p50.toFixed(0)} / p99 ${r.report.p99.toFixed(0)} ms; ${r.cycles.count} scheduler cycles, mean ${r.cycles.meanMs.toFixed(0)} ms; machine CPU ${(100 * r.machineBusy).toFixed(0)}% busy)`);
    }
  }
} finally {
  await cleanup();
}

const raw = results.raw;
console.log("\n== bench:dispatch (embedded PostgreSQL, fsync on; redis-server; all on this machine) ==");
if (raw) {
  console.log(`raw BullMQ addBulk (1,000 per call, one queue):   ${fmt(raw.addBulkJobsPerSec)} jobs/s`);
  console.log(`raw Postgres single-row insert tx (10 conns):     ${fmt(raw.insertTxPerSec)} tx/s`);
}
for (const r of results.bind) {
  const rate = r.tasks / r.seconds;
  const ratios = raw ? `  (${fmt((100 * rate) / raw.addBulkJobsPerSec, 1)}% of raw addBulk, ${fmt(rate / raw.insertTxPerSec, 2)}× raw insert tx/s)` : "";
  const target = r.nodes >= 5000 ? `  target ≥ 2,000: ${rate >= 2000 ? "met" : "MISSED"}` : "";
  const what = r.mix === "services" ? `InferenceServices of ${CLIENTS_PER_SERVICE} clients` : "federated TrainingJobs";
  console.log(`${fmt(r.nodes)} nodes: pending → bound+enqueued ${fmt(rate)} tasks/s (${fmt(r.tasks)} tasks of ${fmt(r.workloads)} ${what})${ratios}${target}`);
}
for (const r of results.latency) {
  const target = `  target p99 ≤ 500 ms: ${r.p99 <= 500 && r.running === r.tasks ? "met" : "MISSED"}`;
  console.log(`${fmt(r.nodes)} nodes: create → Running at ${fmt(r.offeredTasksPerSec)} tasks/s offered: p50 ${fmt(r.p50)} ms, p90 ${fmt(r.p90)} ms, p99 ${fmt(r.p99)} ms, max ${fmt(r.max)} ms (${fmt(r.running)}/${fmt(r.tasks)} Running)${target}`);
  console.log(`    of which create → job at its node p50 ${fmt(r.toJob.p50)} / p99 ${fmt(r.toJob.p99)} ms (the POST itself p50 ${fmt(r.create.p50)} / p99 ${fmt(r.create.p99)} ms), Running report p50 ${fmt(r.report.p50)} / p99 ${fmt(r.report.p99)} ms; achieved ${fmt(r.tasks / r.seconds)} tasks/s; scheduler cycle mean ${fmt(r.cycles.meanMs)} ms over ${fmt(r.cycles.count)} (${fmt(r.cycles.over250ms)} over 250 ms, ${fmt(r.cycles.over500ms)} over 500 ms; ${fmt(r.cycles.unschedulable)} unschedulable and ${fmt(r.cycles.errors)} failed attempts in the run); machine CPU ${fmt(100 * r.machineBusy)}% busy`);
  console.log(`    CPU per task: ${r.cpuPerTask.map(([role, ms]) => `${role} ${fmt(ms, 2)} ms`).join(", ")}; total ${fmt(r.cpuPerTask.reduce((a, [, ms]) => a + ms, 0), 2)} ms`);
  const settled = r.coldStart.settledAtS === undefined ? "never in the run" : `first at second ${r.coldStart.settledAtS} of ${WARMUP_S + DURATION_S}`;
  console.log(`    cold start (the ${WARMUP_S} s of warm-up arrivals, not counted above): slowest task ${fmt(r.coldStart.slowestMs)} ms; a second's slowest task under 500 ms ${settled}`);
}
