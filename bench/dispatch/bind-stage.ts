// bench:dispatch stage 1: pending → bound + enqueued, the scheduler's own code in this process.
import { inferenceServiceSpec, trainingJobSpec, API_VERSION } from "@eiaas/api";
import { createDatabase, ObjectStore } from "@eiaas/db";
import { createRedisLeaseStore, createRedisQueueBackend } from "@eiaas/queue";
import { createLogger } from "@eiaas/telemetry";
import { Redis } from "ioredis";
import { Scheduler } from "../../apps/scheduler/src/scheduler.js";
import { ISVC, NS, TJ } from "./config.js";
import { insertBatched, seed, serviceObject } from "./fleet.js";
import type { BenchServices } from "./services.js";

const quiet = createLogger({ name: "bench", level: "silent" });

export type Mix = "services" | "federated";

export interface BindResult {
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
export async function bindStage(services: BenchServices, size: number, mix: Mix): Promise<BindResult> {
  const url = await services.freshDatabase(`bind_${mix}_${size}`);
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
        spec: trainingJobSpec.parse({
          model: "m",
          mode: "federated",
          data: { selector: { matchLabels: { region, tier: "device" } } },
          participants: { min: 1 },
          resources: { cpu: 10, memoryMiB: 16 },
          nodeSelector: {},
        }),
      } as any),
    );
    await insertBatched(store, TJ, jobs);
    workloads = jobs.length;
  }
  const prefix = `bind-${mix}-${size}`;
  const queue = createRedisQueueBackend({ url: services.redisUrl, prefix });
  const leaseRedis = new Redis(services.redisUrl);
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
  for (let cursor = "0"; ;) {
    const [next, keys] = await leaseRedis.scan(cursor, "MATCH", `${prefix}:node.*:*.1`, "COUNT", 5000);
    jobs += keys.length;
    if ((cursor = next) === "0") break;
  }
  const counts = await db.pool.query<{ phase: string; n: string }>(`SELECT phase, count(*) AS n FROM tasks GROUP BY phase`);
  const byPhase = Object.fromEntries(counts.rows.map((r) => [r.phase, Number(r.n)]));
  const tasks = byPhase.Dispatched ?? 0;
  const pending = Number(
    (await db.pool.query(`SELECT (SELECT count(*) FROM inference_services WHERE phase <> 'Scheduled') + (SELECT count(*) FROM training_jobs WHERE phase <> 'Scheduled') AS n`)).rows[0].n,
  );
  if (pending > 0 || Object.keys(byPhase).some((p) => p !== "Dispatched")) throw new Error(`bind stage left ${pending} services unplaced, tasks ${JSON.stringify(byPhase)}`);
  if (jobs !== tasks) throw new Error(`bind stage: ${tasks} tasks Dispatched but ${jobs} jobs in the node queues`);
  await queue.close();
  leaseRedis.disconnect();
  await db.close();
  return { mix, nodes: fleet.nodes, workloads, tasks, seconds, cycles, cycleSeconds: cycleMs / 1000 };
}
