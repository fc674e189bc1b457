// bench:dispatch stage 2: create → Running at a fixed arrival rate, through the API server (own
// process) and the scheduler (own process), consumers in this process reporting Running through
// the API as the agents do.
import https from "node:https";
import { join } from "node:path";
import pg from "pg";
import { API_VERSION } from "@eiaas/api";
import { createDatabase, freePort, ObjectStore } from "@eiaas/db";
import { createRedisQueueBackend, type QueueConsumer } from "@eiaas/queue";
import { ADMIN_TOKEN, CLIENTS_PER_SERVICE, DURATION_S, log, NS, percentile, PG_STATS, RATE, REDIS_STATS, summary, TIMELINE, WARMUP_S } from "./config.js";
import { seed, serviceObject } from "./fleet.js";
import { busyOthers, machineCpu, roleDeltas, sampleProcesses } from "./process-cpu.js";
import { pgNodeNames, printRedisCommands, printStatements, resetRedisStats, scrapeCycles } from "./service-stats.js";
import type { BenchServices } from "./services.js";

export interface LatencyResult {
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

export async function latencyStage(services: BenchServices, size: number): Promise<LatencyResult> {
  const url = await services.freshDatabase(`latency_${size}`);
  const db = createDatabase(url, { poolSize: 4 });
  const store = new ObjectStore(db.pool);
  const fleet = await seed(store, size);
  await db.close();

  const port = await freePort();
  const base = `https://127.0.0.1:${port}`;
  const api = services.startChild("api-server", "apps/api-server/src/main.ts", {
    DATABASE_URL: url,
    REDIS_URL: services.redisUrl,
    EIAAS_PORT: String(port),
    EIAAS_HOST: "127.0.0.1",
    EIAAS_ADMIN_TOKEN: ADMIN_TOKEN,
    EIAAS_DATA_DIR: join(services.dataDir, `api-${size}`),
  });
  const metricsPort = await freePort();
  const scheduler = services.startChild("scheduler", "apps/scheduler/src/main.ts", {
    DATABASE_URL: url,
    REDIS_URL: services.redisUrl,
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
  const consumerQueue = createRedisQueueBackend({ url: services.redisUrl });
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
  let cpu0 = machineCpu();
  let proc0 = sampleProcesses(roles);
  let measuredFrom = performance.now();
  const t0 = performance.now();
  const posts: Promise<void>[] = [];
  const createMs: number[] = [];
  // BENCH_TIMELINE=1: every second, each process's CPU (% of one core), the machine's, and the tasks
  // reported Running — to see which process was busy or idle when latency rose.
  const timeline: string[] = [];
  const sample = () => ({ at: performance.now(), cpu: machineCpu(), proc: sampleProcesses(roles), reported });
  let tick = sample();
  const timer = TIMELINE
    ? setInterval(() => {
        const now = sample();
        // Jiffies are 1/100 s: per second of wall time, 100 is one core.
        const seconds = (now.at - tick.at) / 1000;
        const roleText = [...roleDeltas(tick.proc, now.proc)].map(([role, j]) => `${role.split(" ")[0]} ${Math.round(j / seconds)}`).join(" ");
        // Other processes (kernel threads included) that took 5% of a core or more.
        const otherText = busyOthers(tick.proc, now.proc, 5 * seconds)
          .map((p) => ` ${p.name}[${p.pid}] ${Math.round(p.jiffies / seconds)}`)
          .join("");
        timeline.push(
          `${Math.round((now.at - t0) / 1000)}: busy ${Math.round((100 * (now.cpu.busy - tick.cpu.busy)) / Math.max(1, now.cpu.total - tick.cpu.total))}% | ${roleText}${otherText} | reported ${now.reported - tick.reported}`,
        );
        tick = now;
      }, 1000)
    : undefined;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (i === warmup) {
      [cpu0, proc0] = [machineCpu(), sampleProcesses(roles)];
      measuredFrom = performance.now();
      if (REDIS_STATS) void resetRedisStats(services.redisUrl);
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
    const r = await check.query<{ running: string; tasks: string }>(`SELECT (SELECT count(*) FROM inference_services WHERE phase = 'Running') AS running, (SELECT count(*) FROM tasks) AS tasks`);
    expected = Number(r.rows[0]!.tasks);
    if (Number(r.rows[0]!.running) === total && reported >= expected) break;
  }
  const measuredTasks = Number((await check.query<{ n: string }>(`SELECT count(*) AS n FROM tasks WHERE owner_references->0->>'name' = ANY($1::text[])`, [[...measured]])).rows[0]!.n);
  await check.end();
  // From the first measured arrival up to the last report (the check above notices the end a
  // little later).
  const seconds = (lastReportAt - measuredFrom) / 1000;
  const cycles = await scrapeCycles(metricsPort);
  const cpu1 = machineCpu();
  const proc1 = sampleProcesses(roles);
  // ms of CPU per task (jiffies are 1/100 s on Linux).
  // Per task of the measured services (the warm-up's last tasks finish in the window, the measured
  // ones' last reports are in it: near enough at this rate).
  const cpuPerTask = [...roleDeltas(proc0, proc1)].map(([role, j]) => [role, (j * 10) / Math.max(1, measuredTasks)] as [string, number]);
  const machineBusy = cpu1.total > cpu0.total ? (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total) : NaN;
  const sorted = [...latencies].sort((a, b) => a - b);
  if (PG_STATS) await printStatements(url);
  if (REDIS_STATS) await printRedisCommands(services.redisUrl, measuredTasks);
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
  await services.stopChild(scheduler);
  await services.stopChild(api);
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
