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
 * ("name=value,…" for Postgres), BENCH_PG_STATS=1 (statements, tables and watch log by kind), BENCH_REDIS_STATS=1 (Redis commands),
 * BENCH_STAGES (default "bind,latency,raw"), BENCH_TIMELINE=1 (the latency stage second by second:
 * each process's CPU, the reports), BENCH_CPU_PROF=dir (CPU profiles of the API server and scheduler).
 *
 * The stages live in bench/dispatch/: services.ts (Postgres, Redis, the processes), fleet.ts,
 * bind-stage.ts, latency-stage.ts, raw-stage.ts, and what they read: process-cpu.ts (/proc),
 * service-stats.ts (pg_stat_statements, Redis commandstats, the scheduler's /metrics).
 */
import { bindStage, type BindResult } from "./dispatch/bind-stage.js";
import { CLIENTS_PER_SERVICE, DURATION_S, FLEETS, fmt, log, RATE, STAGES, WARMUP_S } from "./dispatch/config.js";
import { latencyStage, type LatencyResult } from "./dispatch/latency-stage.js";
import { rawStage, type RawResult } from "./dispatch/raw-stage.js";
import { startServices } from "./dispatch/services.js";

const services = await startServices();
process.once("SIGINT", () => void services.cleanup().then(() => process.exit(130)));

const results: { bind: BindResult[]; latency: LatencyResult[]; raw?: RawResult } = { bind: [], latency: [] };
try {
  if (STAGES.has("raw")) {
    log("raw Redis and Postgres rates");
    results.raw = await rawStage(services);
  }
  for (const size of FLEETS) {
    if (STAGES.has("bind")) {
      for (const mix of ["services", "federated"] as const) {
        log(`pending → bound+enqueued, ${size} nodes, ${mix}`);
        const r = await bindStage(services, size, mix);
        results.bind.push(r);
        log(`  ${r.workloads} workloads → ${r.tasks} tasks in ${r.seconds.toFixed(2)} s over ${r.cycles} cycles (all of it in the cycles: plan, bind, enqueue)`);
      }
    }
    if (STAGES.has("latency")) {
      log(`create → Running at ${RATE} tasks/s for ${WARMUP_S} s of warm-up, then ${DURATION_S} s measured, ${size} nodes`);
      const r = await latencyStage(services, size);
      results.latency.push(r);
      log(
        `  ${r.running}/${r.tasks} tasks Running; p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms (create → job at its node p50 ${r.toJob.p50.toFixed(0)} / p99 ${r.toJob.p99.toFixed(0)} ms; Running report p50 ${r.report.p50.toFixed(0)} / p99 ${r.report.p99.toFixed(0)} ms; ${r.cycles.count} scheduler cycles, mean ${r.cycles.meanMs.toFixed(0)} ms; machine CPU ${(100 * r.machineBusy).toFixed(0)}% busy)`,
      );
    }
  }
} finally {
  await services.cleanup();
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
  console.log(
    `${fmt(r.nodes)} nodes: create → Running at ${fmt(r.offeredTasksPerSec)} tasks/s offered: p50 ${fmt(r.p50)} ms, p90 ${fmt(r.p90)} ms, p99 ${fmt(r.p99)} ms, max ${fmt(r.max)} ms (${fmt(r.running)}/${fmt(r.tasks)} Running)${target}`,
  );
  console.log(
    `    of which create → job at its node p50 ${fmt(r.toJob.p50)} / p99 ${fmt(r.toJob.p99)} ms (the POST itself p50 ${fmt(r.create.p50)} / p99 ${fmt(r.create.p99)} ms), Running report p50 ${fmt(r.report.p50)} / p99 ${fmt(r.report.p99)} ms; achieved ${fmt(r.tasks / r.seconds)} tasks/s; scheduler cycle mean ${fmt(r.cycles.meanMs)} ms over ${fmt(r.cycles.count)} (${fmt(r.cycles.over250ms)} over 250 ms, ${fmt(r.cycles.over500ms)} over 500 ms; ${fmt(r.cycles.unschedulable)} unschedulable and ${fmt(r.cycles.errors)} failed attempts in the run); machine CPU ${fmt(100 * r.machineBusy)}% busy`,
  );
  console.log(
    `    CPU per task: ${r.cpuPerTask.map(([role, ms]) => `${role} ${fmt(ms, 2)} ms`).join(", ")}; total ${fmt(
      r.cpuPerTask.reduce((a, [, ms]) => a + ms, 0),
      2,
    )} ms`,
  );
  const settled = r.coldStart.settledAtS === undefined ? "never in the run" : `first at second ${r.coldStart.settledAtS} of ${WARMUP_S + DURATION_S}`;
  console.log(`    cold start (the ${WARMUP_S} s of warm-up arrivals, not counted above): slowest task ${fmt(r.coldStart.slowestMs)} ms; a second's slowest task under 500 ms ${settled}`);
}
