// Prometheus metrics: one registry per process, whatever apps run in it (the demo runs the API,
// the scheduler and a fleet of agents in one process, and its /metrics shows all of them).
import { createHash, timingSafeEqual } from "node:crypto";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration } from "prom-client";

export { Counter, Gauge, Histogram } from "prom-client";

/** The process's registry. */
export const registry = new Registry();

/**
 * Series that name tenants (their usage and quota): rendered only for scrapers that show a token
 * (`renderMetrics({ restricted: true })`), so an open /metrics port tells nobody who the tenants are.
 */
export const restrictedRegistry = new Registry();

let defaultsOn = false;

/** Adds Node's process metrics (CPU, memory, event loop lag, GC) (`process_*`, `nodejs_*`); once per process. */
export function enableProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: registry });
}

// A metric is defined once per name and shared by everyone who asks for it: two instances of a
// component in one process (tests, the demo) count into the same series instead of throwing on a
// duplicate registration.
function getOrCreate<M>(name: string, create: () => M): M {
  return ((registry.getSingleMetric(name) ?? restrictedRegistry.getSingleMetric(name)) as M | undefined) ?? create();
}

/** Options of a metric's registration. */
export interface MetricVisibility {
  /** The series name tenants: kept off unauthenticated scrapes ({@link restrictedRegistry}). Default false. */
  restricted?: boolean;
}

export function counter<L extends string>(config: Omit<CounterConfiguration<L>, "registers">): Counter<L> {
  return getOrCreate(config.name, () => new Counter<L>({ ...config, registers: [registry] }));
}

export function gauge<L extends string>(config: Omit<GaugeConfiguration<L>, "registers">, visibility: MetricVisibility = {}): Gauge<L> {
  return getOrCreate(config.name, () => new Gauge<L>({ ...config, registers: [visibility.restricted ? restrictedRegistry : registry] }));
}

export function histogram<L extends string>(config: Omit<HistogramConfiguration<L>, "registers">): Histogram<L> {
  return getOrCreate(config.name, () => new Histogram<L>({ ...config, registers: [registry] }));
}

/** Buckets for latencies from 1 ms to 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The Prometheus text exposition of the registry; with `restricted`, the series that name tenants
 * too (for a scraper that showed its token).
 */
export async function renderMetrics(options: { restricted?: boolean } = {}): Promise<{ contentType: string; body: string }> {
  const open = await registry.metrics();
  if (!options.restricted) return { contentType: registry.contentType, body: open };
  // The text format is a sequence of metric families: two registries' expositions concatenate.
  return { contentType: registry.contentType, body: `${open}${await restrictedRegistry.metrics()}` };
}

/** Whether `presented` is `expected` (a scrape token), compared in constant time. */
export function tokenMatches(presented: string, expected: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/** Seconds since `start` (a `process.hrtime.bigint()` reading). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Resolves `p`, or rejects after `ms` naming `what` (scrapes and probes must not hang on a dependency that is away). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what ? `${what}: ` : ""}no answer within ${ms} ms`)), ms);
      timer.unref();
    }),
  ]);
}
