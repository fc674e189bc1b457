/**
 * `npm run bench:scheduling`: throughput of the planners the scheduler runs (libs/scheduling's
 * planInference and planTraining, called by apps/scheduler's plan-workload.ts for every workload
 * a cycle plans), on one core.
 *
 *   - placement decisions/s at 1,000 / 5,000 / 10,000 nodes (clouds 1%, edges 10%, devices the
 *     rest): a one-client InferenceService (the client's best chain, split and server over every
 *     edge and cloud node, its tasks reserved) and a federated TrainingJob (8 data nodes, the
 *     aggregator over the fleet), each decision reserving its tasks as the cycle does;
 *   - inference plans/s: one client over 50 candidate servers, a 20-layer model with 3 exits and 2
 *     variants, every chain a candidate (slo.minAccuracy set), every split;
 *   - preemption victim search time at 5,000 full nodes.
 *
 * Rates are per CPU-second of this process (so a busy machine distorts them less), and each is also
 * printed relative to a machine baseline measured in the same run (millions of dependent float
 * multiply-adds per CPU-second), so runs on different machines can be compared.
 * Target (issue 3): ≥ 5,000 inference plans/s (one client, 50 servers).
 * Env: BENCH_FLEETS (fleet sizes, default "1000,5000,10000"), BENCH_FIGURE_MS (CPU ms measured per
 * figure, default 1500) — small values only check that the bench runs.
 */
import type { ModelSpecInput } from "@eiaas/api";
import { Snapshot, planInference, planTraining, selectPreemptionVictims, type NodeInit, type TaskInit, type TaskRequest } from "@eiaas/scheduling";
import { layers, model, service, trainingJob } from "@eiaas/scheduling/testing";

const FLEETS = (process.env.BENCH_FLEETS ?? "1000,5000,10000").split(",").map(Number);
const FIGURE_MS = Number(process.env.BENCH_FIGURE_MS ?? 1500);
/** Data nodes per federated job in the fleet figures. */
const GROUP = 8;

/** Seeded PRNG (mulberry32) so every run measures the same fleet. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * CPU time of this process in ms. Rates are per CPU-second rather than per wall-second, so other
 * processes competing for the machine (CI neighbours, a test run) distort them less.
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Runs `fn` repeatedly for about `ms` milliseconds of CPU time; returns calls per CPU-second. */
function rate(ms: number, fn: () => void): number {
  for (let i = 0; i < 20; i++) fn();
  let calls = 0;
  const start = cpuMs();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 10; i++) fn();
    calls += 10;
    now = cpuMs();
  }
  return (calls * 1000) / (now - start);
}

/** Millions of dependent float multiply-adds per CPU-second: the machine yardstick. */
function baselineMops(): number {
  let best = 0;
  for (let round = 0; round < 5; round++) {
    let x = 1.0;
    const n = 20_000_000;
    const start = cpuMs();
    for (let i = 0; i < n; i++) x = x * 0.999999 + 0.000001;
    const ms = cpuMs() - start;
    if (x === 42) console.log("");
    best = Math.max(best, n / ms / 1000);
  }
  return best;
}

function fleet(count: number, seed: number): NodeInit[] {
  const r = rng(seed);
  const clouds = Math.max(1, Math.floor(count / 100));
  const edges = Math.max(1, Math.floor(count / 10));
  const nodes: NodeInit[] = [];
  for (let i = 0; i < count; i++) {
    const tier = i < clouds ? "cloud" : i < clouds + edges ? "edge" : "device";
    const big = tier === "cloud" ? 16 : tier === "edge" ? 4 : 1;
    nodes.push({
      name: `${tier}-${String(i).padStart(5, "0")}`,
      tier,
      parent: tier === "device" ? `edge-${String(clouds + (i % edges)).padStart(5, "0")}` : tier === "edge" ? `cloud-${String(i % clouds).padStart(5, "0")}` : undefined,
      // host: one client per service; group: a training job's data nodes, GROUP devices under one edge.
      labels: { zone: `z${i % 4}`, tier, host: `h${i}`, ...(tier === "device" ? { group: `g${i % edges}-${Math.floor(i / (edges * GROUP))}` } : {}) },
      hardware: tier === "device" ? "jetson-nano" : "t4",
      taints: r() < 0.05 ? [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] : [],
      ready: r() > 0.01,
      capacity: { cpu: 4000 * big, memoryMiB: 8192 * big, gpu: tier === "cloud" ? 4 : 0 },
      allocated: { cpu: Math.floor(r() * 2000 * big), memoryMiB: Math.floor(r() * 4096 * big) },
      gflops: 100 * big,
      network: { uplinkMbps: 50 * big, downlinkMbps: 100 * big, rttMs: 5 },
    });
  }
  return nodes;
}

/**
 * What a scheduling cycle does per workload, over `count` nodes: planInference for a one-client
 * service (objective latency: the full model's every split on every edge and cloud server) or
 * planTraining for a federated job (participants on their data nodes, the aggregator over the
 * fleet), each reserving its tasks in the snapshot as plan-workload.ts does.
 */
function placements(count: number, kind: "inference" | "training"): number {
  const snap = new Snapshot({ nodes: fleet(count, count) });
  const spec = benchModel();
  const devices = snap.nodes.filter((n) => n.tier === "device");
  const workloads = Array.from({ length: 256 }, (_, i) => {
    const d = devices[(i * 37) % devices.length]!;
    return kind === "inference"
      ? service(`s${i}`, { architecture: "auto", clients: { selector: { matchLabels: { host: d.labels.host! } }, requestsPerSecond: 1 }, resources: { cpu: 100, memoryMiB: 64 } }, `tenant-${i % 8}`)
      : trainingJob(
          `j${i}`,
          { data: { selector: { matchLabels: { group: d.labels.group! } } }, participants: { min: 1 }, resources: { cpu: 100, memoryMiB: 64 }, aggregation: { localSteps: 5 } },
          `tenant-${i % 8}`,
        );
  });
  const probe = plan(snap, workloads[0]!, spec, false);
  if (probe !== "Scheduled") throw new Error(`${kind} at ${count} nodes: ${probe}`);
  const mark = snap.mark();
  let k = 0;
  let placed = 0;
  return rate(FIGURE_MS, () => {
    if (plan(snap, workloads[k++ & 255]!, spec, true) === "Scheduled") placed++;
    // Keep the fleet from filling up so every decision does comparable work.
    if (placed % 2000 === 1999) snap.rollback(mark);
  });
}

function plan(snap: Snapshot, w: ReturnType<typeof service> | ReturnType<typeof trainingJob>, spec: ReturnType<typeof benchModel>, reserve: boolean): string {
  const r = "clients" in w.spec ? planInference(snap, { metadata: w.metadata, spec: w.spec }, spec, { reserve }) : planTraining(snap, { metadata: w.metadata, spec: w.spec }, spec, { reserve });
  return r.status === "Scheduled" ? r.status : r.message;
}

/** 20 layers, exits after 5, 10 and 15, two variants (int8, pruned), profiles for two hardware classes. */
function benchModel() {
  const r = rng(3);
  const base = layers(20, {
    flops: Array.from({ length: 20 }, () => 2e8 + r() * 8e8),
    outputBytes: Array.from({ length: 20 }, (_, i) => Math.floor(800_000 / (1 + i / 2))),
    memoryMiB: Array.from({ length: 20 }, () => 1 + r() * 10),
  });
  const profile = (hardware: string, scale: number) => ({
    hardware,
    layerLatencyMs: base.map((l) => (l.flops / 1e9) * scale),
    layerPowerW: base.map(() => 2 + r()),
  });
  const spec: Partial<ModelSpecInput> = {
    inputBytes: 602_112,
    accuracy: 0.76,
    layers: base,
    profiles: [profile("jetson-nano", 4), profile("t4", 0.3)],
    exits: [5, 10, 15].map((afterLayer, i) => ({
      afterLayer,
      accuracy: 0.5 + i * 0.08,
      head: { flops: 1e6, outputBytes: 4000, memoryMiB: 0.5, profiles: [{ hardware: "jetson-nano", latencyMs: 0.2 }] },
    })),
    variants: [
      { name: "int8", accuracy: 0.75, layers: base.map((l) => ({ ...l, outputBytes: l.outputBytes / 4, memoryMiB: l.memoryMiB / 4 })) },
      { name: "pruned", accuracy: 0.72, layers: base.map((l) => ({ ...l, flops: l.flops / 2 })) },
    ],
  };
  return model(spec);
}

function inferencePlans(): { single: number; perClientOf100: number } {
  // 50 candidate servers: cloud-00..cloud-09 and edge-10..edge-49, each edge under a cloud.
  const nodes: NodeInit[] = [];
  for (let i = 0; i < 50; i++) {
    const cloud = i < 10;
    nodes.push({
      name: `${cloud ? "cloud" : "edge"}-${String(i).padStart(2, "0")}`,
      tier: cloud ? "cloud" : "edge",
      parent: cloud ? undefined : `cloud-${String(i % 10).padStart(2, "0")}`,
      hardware: i % 2 === 0 ? "t4" : "xeon",
      gflops: 500 + i * 10,
      capacity: { cpu: 64000, memoryMiB: 65536, gpu: 1 },
      network: { uplinkMbps: 1000, downlinkMbps: 1000, rttMs: 2 + (i % 5) },
    });
  }
  const clients: NodeInit[] = Array.from({ length: 100 }, (_, i) => ({
    name: `dev-${String(i).padStart(3, "0")}`,
    tier: "device",
    parent: `edge-${10 + (i % 40)}`,
    hardware: "jetson-nano",
    labels: (i === 0 ? { role: "client", first: "yes" } : { role: "client" }) as Record<string, string>,
    capacity: { cpu: 4000, memoryMiB: 4096 },
    power: { computeW: 10, transmitW: 2.5 },
    network: { uplinkMbps: 20 + (i % 7) * 10, downlinkMbps: 80, rttMs: 5 },
  }));
  const snap = new Snapshot({ nodes: [...nodes, ...clients] });
  const spec = benchModel();
  const one = service("detect", { clients: { selector: { matchLabels: { first: "yes" } }, requestsPerSecond: 5 }, slo: { minAccuracy: 0.5 } });
  const probe = planInference(snap, one, spec, { reserve: false });
  if (probe.status !== "Scheduled") throw new Error(probe.message);
  const single = rate(FIGURE_MS, () => void planInference(snap, one, spec, { reserve: false }));
  const all = service("detect", { clients: { selector: { matchLabels: { role: "client" } }, requestsPerSecond: 1 }, slo: { minAccuracy: 0.5 } });
  const perService = rate(FIGURE_MS, () => void planInference(snap, all, spec, { reserve: false }));
  return { single, perClientOf100: perService * 100 };
}

function preemption(count: number): { ms: number; victims: number } {
  const r = rng(11);
  const nodes: NodeInit[] = [];
  const tasks: TaskInit[] = [];
  for (let i = 0; i < count; i++) {
    const name = `node-${String(i).padStart(5, "0")}`;
    nodes.push({ name, tier: i % 10 === 0 ? "cloud" : "edge", capacity: { cpu: 8000, memoryMiB: 16384, gpu: 0 } });
    let cpu = 0;
    let mem = 0;
    for (let k = 0; cpu < 7000; k++) {
      const c = 500 + Math.floor(r() * 1500);
      const m = 1024 + Math.floor(r() * 2048);
      if (cpu + c > 8000 || mem + m > 16384) break;
      cpu += c;
      mem += m;
      tasks.push({ name: `${name}-t${k}`, namespace: `tenant-${k % 5}`, node: name, priority: Math.floor(r() * 10), createdAt: Math.floor(r() * 1e6), resources: { cpu: c, memoryMiB: m } });
    }
  }
  const snap = new Snapshot({ nodes, tasks });
  const task: TaskRequest = { tenant: "urgent", priority: 100, resources: { cpu: 3000, memoryMiB: 4096, gpu: 0 } };
  const res = selectPreemptionVictims(snap, task);
  if (res.status !== "Victims") throw new Error(res.reason);
  const perSecond = rate(FIGURE_MS, () => void selectPreemptionVictims(snap, task));
  return { ms: 1000 / perSecond, victims: res.victims.length };
}

function main(): void {
  const t0 = performance.now();
  console.log("(rates per CPU-second of one core)");
  const base = baselineMops();
  const rel = (perSecond: number) => (perSecond / base).toFixed(2);
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US").padStart(9);
  console.log(`machine baseline: ${base.toFixed(0)} M dependent float multiply-adds/s on this core`);
  console.log("(in brackets: each figure divided by the baseline in M op/s, comparable across machines)");
  console.log("");
  console.log("placement decisions/s of the scheduler's planners (plan, reserve), per fleet size:");
  for (const n of FLEETS) {
    const inference = placements(n, "inference");
    const training = placements(n, "training");
    console.log(
      `  ${String(n).padStart(6)} nodes  InferenceService (1 client) ${fmt(inference)}/s (${rel(inference)})   TrainingJob (federated, ${GROUP} data nodes) ${fmt(training)}/s (${rel(training)})`,
    );
  }
  console.log("");
  const inf = inferencePlans();
  console.log("inference plans (20 layers, 3 exits, 2 variants, 50 candidate servers, every chain and split):");
  console.log(`  one-client service        ${fmt(inf.single)} plans/s (${rel(inf.single)})   target ≥ 5,000/s: ${inf.single >= 5000 ? "met" : "MISSED"}`);
  console.log(`  100-client service        ${fmt(inf.perClientOf100)} client plans/s (${rel(inf.perClientOf100)})`);
  console.log("");
  const preemptNodes = Math.min(5000, Math.max(...FLEETS));
  const pre = preemption(preemptNodes);
  console.log("preemption victim search:");
  console.log(
    `  ${String(preemptNodes).padStart(4)} full nodes           ${pre.ms.toFixed(2).padStart(9)} ms per search (${pre.victims} victim(s) chosen; ${((pre.ms * base) / 1000).toFixed(1)} baseline-M-op equivalents)`,
  );
  console.log("");
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main();
