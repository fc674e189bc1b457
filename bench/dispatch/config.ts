// Settings of bench:dispatch (env, read once) and the small helpers every stage shares.
import { kindInfo } from "@eiaas/api";

export const FLEETS = (process.env.BENCH_FLEETS ?? "1000,5000").split(",").map(Number);
export const RATE = Number(process.env.BENCH_RATE ?? 500);
export const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 20);
/** Arrivals at the same rate before the measured ones (cold queues, connections, JIT); not counted. */
export const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 20);
export const STAGES = new Set((process.env.BENCH_STAGES ?? "bind,latency,raw").split(","));
export const CLIENTS_PER_SERVICE = Number(process.env.BENCH_CLIENTS ?? 5);
/** BENCH_PG_STATS=1: load pg_stat_statements and print where Postgres spent its time per stage. */
export const PG_STATS = process.env.BENCH_PG_STATS === "1";
/** BENCH_REDIS_STATS=1: print the commands Redis spent its time on in the latency stage. */
export const REDIS_STATS = process.env.BENCH_REDIS_STATS === "1";
/** BENCH_TIMELINE=1: every second of the latency stage, each process's CPU and the reports. */
export const TIMELINE = process.env.BENCH_TIMELINE === "1";
/** BENCH_PG_SETTINGS="name=value,…": more Postgres settings, for trying them against the defaults. */
export const EXTRA_PG_SETTINGS: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_PG_SETTINGS ?? "")
    .split(",")
    .filter(Boolean)
    .map((kv) => kv.split("=", 2) as [string, string]),
);

export const NODE = kindInfo("EdgeNode");
export const TENANT = kindInfo("Tenant");
export const MODEL = kindInfo("Model");
export const ISVC = kindInfo("InferenceService");
export const TJ = kindInfo("TrainingJob");
/** The tenant (namespace) every workload of the benchmark belongs to. */
export const NS = "bench";
export const ADMIN_TOKEN = "bench-dispatch-admin-token-0123456789";

const started = performance.now();
export const log = (msg: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}`);
export const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
export const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
};
