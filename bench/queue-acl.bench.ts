// `npm run bench:queue-acl`: what running BullMQ's scripts by EVALSHA alone costs an agent. Agents'
// Redis users may no longer EVAL (their own script could stall Redis for everyone), so their
// clients name BullMQ's scripts by SHA-1 only, and the control plane keeps them cached. This runs
// the agent's queue path — libs/queue's Redis backend as apps/agent opens it (restricted, the
// agents' defaults, 4 slots) on one node queue of its own ACL user — in two variants, alternately
// on one redis-server in the same run:
// - "eval allowed": the former agent user (the command list plus EVAL) and ioredis' own script calls
//   (the script's text on a connection's first call, EVALSHA after, EVAL again after a NOSCRIPT);
// - "evalsha only": the user `provisionAgentRedisUser` creates now, scripts by SHA-1 only.
// Throughput: BENCH_JOBS jobs wait in the queue when the consumer starts; jobs/s until all are
// done, and the CPU this process (the consumer) and redis-server spent per job meanwhile — on a
// shared, busy machine wall-clock rates swing by 2× from run to run, CPU per job much less.
// Latency: BENCH_SEQUENTIAL jobs one at a time (enqueue, then wait until the handler has it).
// Env: BENCH_ROUNDS (default 3), BENCH_JOBS (default 5000), BENCH_SEQUENTIAL (default 300).
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { agentRedisAclRules, agentRedisUrl, createRedisQueueBackend, provisionAgentRedisUser, type AgentRedisCredentials, type QueueBackend, type TaskJob } from "@eiaas/queue";
import { startRedis } from "@eiaas/testing";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const JOBS = Number(process.env.BENCH_JOBS ?? 5000);
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 300);

type Variant = "eval allowed" | "evalsha only";
interface Result {
  jobsPerSec: number;
  /** CPU µs per job while draining the queue: this process (the consumer), and redis-server. */
  consumerCpuUs: number;
  redisCpuUs: number;
  /** Redis commands per job while draining (the same for both, or something differs). */
  commandsPerJob: number;
  /** Errors the agent's backend and consumer reported (0, or the run is not comparable). */
  errors: number;
  /** Mean ms from enqueue to the handler, one job at a time. */
  latencyMs: number;
}

const job = (node: string, name: string): TaskJob => ({
  node,
  payload: { namespace: "bench", name, uid: `${name}-uid`, attempt: 0, spec: { nodeName: node, role: "serve" } },
});

/** CPU ticks (1/100 s) a process has used, user + system. */
function ticks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Calls of every command Redis has served so far. */
async function commandCalls(admin: Redis): Promise<number> {
  const stats = await admin.info("commandstats");
  return [...stats.matchAll(/calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 5));
}

async function credentials(admin: Redis, variant: Variant, node: string): Promise<Pick<AgentRedisCredentials, "username" | "password">> {
  if (variant === "evalsha only") return provisionAgentRedisUser(admin, node);
  const creds = { username: `eiaas-bench-eval-${node}`, password: "bench" };
  await admin.call("ACL", "SETUSER", creds.username, "reset", "on", `>${creds.password}`, ...agentRedisAclRules(node), "+eval");
  return creds;
}

async function run(url: string, redisPid: number, admin: Redis, producer: QueueBackend, variant: Variant, round: number): Promise<Result> {
  const node = `bench-${round}-${variant === "eval allowed" ? "eval" : "evalsha"}`;
  const creds = await credentials(admin, variant, node);
  let errors = 0;
  const agent = createRedisQueueBackend({ url: agentRedisUrl(url, creds), restricted: true, evalshaOnly: variant === "evalsha only", onError: () => errors++ });
  try {
    // Throughput: a full queue, drained by a consumer with the agents' default 4 slots.
    for (let i = 0; i < JOBS; i += 1000) {
      await producer.enqueueTasks(Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => job(node, `t${i + k}`)));
    }
    let handled = 0;
    let waiter: { name: string; resolve: () => void } | undefined;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const redis0 = ticks(redisPid);
    const calls0 = await commandCalls(admin);
    const consumer = agent.consumeNodeQueue(
      node,
      async (p) => {
        handled++;
        if (waiter?.name === p.name) waiter.resolve();
      },
      { concurrency: 4, onError: () => errors++ },
    );
    await until(() => handled >= JOBS);
    await until(async () => {
      const d = await producer.depth(`node.${node}`);
      return d.waiting === 0 && d.active === 0;
    });
    const jobsPerSec = JOBS / ((performance.now() - t0) / 1000);
    const cpu = process.cpuUsage(cpu0);
    const consumerCpuUs = (cpu.user + cpu.system) / JOBS;
    const redisCpuUs = ((ticks(redisPid) - redis0) * 10_000) / JOBS;
    const commandsPerJob = ((await commandCalls(admin)) - calls0) / JOBS;

    // Latency: one job at a time through the idle consumer (marker wake-up, fetch, handler).
    let total = 0;
    for (let i = 0; i < SEQUENTIAL; i++) {
      const name = `s${i}`;
      const seen = new Promise<void>((resolve) => (waiter = { name, resolve }));
      const t = performance.now();
      await producer.enqueueTasks([job(node, name)]);
      await seen;
      total += performance.now() - t;
    }
    await consumer.close();
    return { jobsPerSec, consumerCpuUs, redisCpuUs, commandsPerJob, errors, latencyMs: total / SEQUENTIAL };
  } finally {
    await agent.close({ force: true });
    await admin.call("ACL", "DELUSER", creds.username);
  }
}

function line(r: Result): string {
  return `${r.jobsPerSec.toFixed(0).padStart(6)} jobs/s, CPU per job ${r.consumerCpuUs.toFixed(0)} µs consumer + ${r.redisCpuUs.toFixed(0)} µs redis, ${r.commandsPerJob.toFixed(2)} Redis commands per job, ${r.latencyMs.toFixed(2)} ms per sequential job${r.errors ? `, ${r.errors} errors` : ""}`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const redis = await startRedis();
// The only child of this process: the redis-server just started.
const redisPid = Number(readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").trim().split(/\s+/)[0]);
const admin = new Redis(redis.url);
const producer = createRedisQueueBackend({ url: redis.url });
const results: Record<Variant, Result[]> = { "eval allowed": [], "evalsha only": [] };
try {
  console.log(`bench:queue-acl: ${ROUNDS} rounds × 2 variants, ${JOBS} queued jobs + ${SEQUENTIAL} sequential per run, concurrency 4`);
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which variant goes first, so a drift in the machine's load favours neither.
    const order: Variant[] = round % 2 === 0 ? ["eval allowed", "evalsha only"] : ["evalsha only", "eval allowed"];
    for (const variant of order) {
      const r = await run(redis.url, redisPid, admin, producer, variant, round);
      results[variant].push(r);
      console.log(`round ${round + 1} ${variant.padEnd(12)}: ${line(r)}`);
    }
  }
  const summary = (rs: Result[]): Result => ({
    jobsPerSec: median(rs.map((r) => r.jobsPerSec)),
    consumerCpuUs: median(rs.map((r) => r.consumerCpuUs)),
    redisCpuUs: median(rs.map((r) => r.redisCpuUs)),
    commandsPerJob: median(rs.map((r) => r.commandsPerJob)),
    errors: rs.reduce((n, r) => n + r.errors, 0),
    latencyMs: median(rs.map((r) => r.latencyMs)),
  });
  const old = summary(results["eval allowed"]);
  const now = summary(results["evalsha only"]);
  console.log(`\n== bench:queue-acl (medians over ${ROUNDS} rounds; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}) ==`);
  console.log(`eval allowed: ${line(old)}`);
  console.log(`evalsha only: ${line(now)}`);
  const ratio = (f: (r: Result) => number) => (f(now) / f(old)).toFixed(3);
  console.log(
    `ratio (evalsha only / eval allowed): jobs/s ${ratio((r) => r.jobsPerSec)}, consumer CPU per job ${ratio((r) => r.consumerCpuUs)}, ` +
      `redis CPU per job ${ratio((r) => r.redisCpuUs)}, sequential latency ${ratio((r) => r.latencyMs)}`,
  );
} finally {
  await producer.close({ force: true });
  admin.disconnect();
  await redis.stop();
}
