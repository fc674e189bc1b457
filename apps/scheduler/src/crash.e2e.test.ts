// The scheduler killed mid-run and restarted, and two schedulers racing (issue 4 "Done when"):
// nothing lost or duplicated — every Task bound at most once per plan revision, no node over its
// capacity or load, no tenant over its quota, every dispatch job on its task's node queue — checked
// on the rows. The scheduler runs as its own process (`node --import tsx apps/scheduler/src/main.ts`)
// and is SIGKILLed while workloads are being bound; a fleet that cannot hold every workload makes
// capacity, load and quota all binding. A private Redis (the process uses BullMQ's default prefix).
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, ObjectStore, type Database } from "@eiaas/db";
import { createPostgresLeaseStore, createRedisQueueBackend, type QueueBackend } from "@eiaas/queue";
import { createLogger } from "@eiaas/telemetry";
import { startRedis, type RunningRedis } from "@eiaas/testing";
import { bindingViolations, cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";
import { Scheduler } from "./scheduler.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const EDGES = ["e0", "e1", "e2", "e3", "e4", "e5"];
const DEVICES = Array.from({ length: 8 }, (_, i) => `dev-${i}`);
const NODES = ["cloud-1", ...EDGES, ...DEVICES];

let redis: RunningRedis;
let cp: ControlPlane;
let restarted: Scheduler | undefined;
const children: ChildProcess[] = [];
const output: string[] = [];

beforeAll(async () => {
  redis = await startRedis();
  cp = await startControlPlane({ redisUrl: redis.url, scheduler: false, queue: { prefix: "bull" } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" }, spec: { quota: { cpu: 2000 } } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "beta" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.apply("/namespaces/beta/models", MODEL);
  // Slow heartbeats keep the machine free for the scheduler processes' start-up.
  const slow = { heartbeatMs: 2_000 };
  await cp.startAgent("cloud-1", cloudSpec(), {}, slow);
  // Each edge holds 4 tasks by cpu and 3 by load (a service's tail adds 0.28).
  for (const e of EDGES) await cp.startAgent(e, edgeSpec("cloud-1", { capacity: { cpu: 2000, memoryMiB: 16384 } }), {}, slow);
  for (const [i, d] of DEVICES.entries()) await cp.startAgent(d, deviceSpec(EDGES[i % EDGES.length]!), { client: d }, slow);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await restarted?.stop();
  await cp?.close();
  await redis?.stop();
});

/** The scheduler as a process of its own, on the test database and the private Redis. */
function startSchedulerProcess(): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "apps/scheduler/src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: cp.api.db.url,
      REDIS_URL: redis.url,
      EIAAS_METRICS_PORT: "0",
      EIAAS_RESYNC_SECONDS: "0.2",
      // Its leases live in Redis, the test API's in Postgres: keep every node Ready throughout.
      EIAAS_NODE_GRACE_SECONDS: "600",
      EIAAS_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => output.push(String(d)));
  child.stderr!.on("data", (d) => output.push(String(d)));
  children.push(child);
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

const taskCount = async (where = "TRUE") => Number((await cp.db.pool.query(`SELECT count(*) AS n FROM tasks WHERE ${where}`)).rows[0].n);

/** Every dispatch job id on every node queue (waiting, active or kept after it finished). */
async function jobIds(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const n of NODES) {
    const q = new Queue(`node.${n}`, { connection: { url: redis.url } as any });
    try {
      const jobs = await q.getJobs(["wait", "active", "completed", "failed", "delayed", "prioritized"]);
      out.set(n, jobs.map((j) => j.id!).filter(Boolean));
    } finally {
      await q.close();
    }
  }
  return out;
}

/** Every service settled: Running with its tasks Running, or Pending as Unschedulable; nothing in flight. */
async function settled(namespaces: string[]): Promise<{ running: any[]; pending: any[] } | undefined> {
  const running: any[] = [];
  const pending: any[] = [];
  for (const ns of namespaces) {
    for (const s of (await cp.get(`/namespaces/${ns}/inferenceservices`)).items as any[]) {
      if (s.status?.observedGeneration !== s.metadata.generation) return undefined;
      if (s.status.phase === "Running") running.push(s);
      else if (s.status.phase === "Pending" && s.status.conditions?.some((c: any) => c.type === "Scheduled" && c.status === "False")) pending.push(s);
      else return undefined;
    }
  }
  if ((await taskCount(`phase NOT IN ('Running', 'Succeeded', 'Failed')`)) > 0) return undefined;
  return { running, pending };
}

async function createServices(prefix: string, from: number, to: number) {
  for (let i = from; i < to; i++) {
    const ns = i % 3 === 0 ? "acme" : "beta";
    await cp.apply(
      `/namespaces/${ns}/inferenceservices`,
      isvc(`${prefix}-${i}`, DEVICES[i % DEVICES.length]!, {
        architecture: "edge",
        clients: { selector: { matchLabels: { client: DEVICES[i % DEVICES.length]! } }, requestsPerSecond: 200 },
        resources: { cpu: 500, memoryMiB: 64 },
      }),
    );
  }
}

describe("scheduler crashes and races", () => {
  it("is killed (SIGKILL) while binding and restarted: nothing lost or duplicated", async () => {
    // 8 services, then 8 more before each restart: the fleet (18 by load) has room for each batch.
    await createServices("k", 0, 8);
    for (let round = 1; round <= 2; round++) {
      const before = await taskCount();
      const child = startSchedulerProcess();
      // Killed as soon as it has bound something: its dispatch and status writes are cut short.
      await waitFor(async () => (await taskCount()) > before, `scheduler process ${round} to bind`, 60_000, 10).catch((err) => {
        throw new Error(`${(err as Error).message}; its output:\n${output.join("")}`);
      });
      await kill(child);
      expect(await bindingViolations(cp.db.pool)).toEqual([]);
      await createServices("k", round * 8, round * 8 + 8);
    }
    // The last restart runs in this process (the same Scheduler as main.ts builds), which saves a
    // process start-up and lets the test see its cycles.
    restarted = new Scheduler(
      { databaseUrl: cp.api.db.url, pool: cp.db.pool, store: cp.store, queue: cp.queue, leases: cp.leases, logger: cp.schedulerLog.logger },
      { resyncMs: 200, gracePeriodMs: 600_000 },
    );
    restarted.start();

    const end = await waitFor(() => settled(["acme", "beta"]), "every service Running or Unschedulable", 60_000, 200);
    // The fleet holds 18 services by load and acme 4 by quota: some wait, the rest run.
    expect(end.running.length).toBeGreaterThan(0);
    expect(end.pending.length).toBeGreaterThan(0);
    expect(end.running.filter((s) => s.metadata.namespace === "acme").length).toBeLessThanOrEqual(4);
    expect(restarted.isLeader).toBe(true);
    expect(await bindingViolations(cp.db.pool, await jobIds())).toEqual([]);
    // Each running service has exactly its plan's one task, Running, of its current revision.
    const tasks = (await cp.db.pool.query(`SELECT owner_uid::text AS owner, labels, phase FROM tasks WHERE phase NOT IN ('Succeeded', 'Failed')`)).rows;
    for (const s of end.running) {
      const own = tasks.filter((t) => t.owner === s.metadata.uid);
      expect(own.map((t) => [t.labels["eiaas.io/plan-revision"], t.phase])).toEqual([[String(s.status.planRevision), "Running"]]);
    }
    expect(tasks.length).toBe(end.running.length);
    for (const s of end.pending) expect(tasks.filter((t) => t.owner === s.metadata.uid)).toEqual([]);
  }, 120_000);

  it("two schedulers racing (no leader election between them) never over-commit or double-bind", async () => {
    // Stop the previous test's scheduler: two replicas take over, each cycling without the
    // advisory lock (what a paused leader that lost it would do).
    for (const c of children) await kill(c);
    await restarted?.stop();
    restarted = undefined;
    for (const ns of ["acme", "beta"]) {
      for (const s of (await cp.get(`/namespaces/${ns}/inferenceservices`)).items as any[]) {
        const { default: request } = await import("supertest");
        await request(cp.api.app).delete(`/apis/eiaas.io/v1alpha1/namespaces/${ns}/inferenceservices/${s.metadata.name}`).set(cp.admin()).expect(200);
      }
    }
    expect(await taskCount()).toBe(0);
    const replicas: Array<{ db: Database; queue: QueueBackend; s: Scheduler }> = [];
    for (let i = 0; i < 2; i++) {
      const db = createDatabase(cp.api.db.url, { poolSize: 4 });
      const queue = createRedisQueueBackend({ url: redis.url });
      const s = new Scheduler({
        databaseUrl: cp.api.db.url,
        pool: db.pool,
        store: new ObjectStore(db.pool),
        queue,
        leases: createPostgresLeaseStore(db.pool),
        logger: createLogger({ name: `replica-${i}`, level: "silent" }),
      });
      replicas.push({ db, queue, s });
    }
    const errors: Error[] = [];
    const cycle = async (s: Scheduler) => {
      try {
        const stats = await s.workloads.cycle();
        if (stats.dispatchError) throw stats.dispatchError;
      } catch (err) {
        errors.push(err as Error);
      }
    };
    // Both replicas cycle freely while services keep arriving, so each often binds from a view
    // that misses what the other just bound: only the binder's re-checks keep the rows right.
    let stop = false;
    const loops = replicas.map(async ({ s }) => {
      while (!stop) await cycle(s);
    });
    try {
      const { default: request } = await import("supertest");
      for (let i = 0; i < 24; i++) {
        await createServices("r", i, i + 1);
        // Spec changes re-plan running services (a roll-over holds old and new tasks at once):
        // a replica that has not seen the other's re-plan binds from a view without it.
        if (i >= 4 && i % 2 === 0) {
          const j = i - 4 + (i % 3 === 0 ? 1 : 0);
          const ns = j % 3 === 0 ? "acme" : "beta";
          await request(cp.api.app)
            .patch(`/apis/eiaas.io/v1alpha1/namespaces/${ns}/inferenceservices/r-${j}`)
            .set(cp.admin())
            .set("Content-Type", "application/merge-patch+json")
            .send(JSON.stringify({ spec: { resources: { cpu: 400 + 100 * (i % 4), memoryMiB: 64 } } }))
            .expect(200);
        }
        await new Promise((r) => setTimeout(r, 40));
      }
      const end = await waitFor(() => settled(["acme", "beta"]), "the racing replicas to settle", 60_000, 100);
      stop = true;
      await Promise.all(loops);
      expect(end.running.length).toBeGreaterThan(0);
      expect(end.pending.length).toBeGreaterThan(0);
      expect(await bindingViolations(cp.db.pool, await jobIds())).toEqual([]);
      // A bind that lost the race is refused whole, never half-applied; nothing threw.
      expect(errors.map((e) => e.message)).toEqual([]);
    } finally {
      stop = true;
      await Promise.all(loops);
      for (const r of replicas) {
        await r.queue.close({ force: true });
        await r.db.close();
      }
    }
  }, 120_000);
});
