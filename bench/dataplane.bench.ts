// `npm run bench:dataplane`: the inference data plane measured on a testbed that differs like a
// real fleet (issue 20 part 8). A device and an edge server are `eiaas-serve` containers run by the
// production docker runtime, with CPU quotas in the ratio of their hardware classes' GFLOPS
// (deploy/reference/hardware.yaml); the link between them is shaped with `tbf` on the edge
// container's veth pair. For each reference model × link speed × objective the production planner
// chooses a split (from flops alone, then with the measured per-segment times fed back as a
// ModelProfile is), and every split is measured end to end in the same run. See docs/dataplane.md.
//
// Env: BENCH_MODELS (default resnet18,mobilenetv2,alexnet,vgg16), BENCH_MBPS (1,10,100),
// BENCH_REQUESTS (50 per split and speed), BENCH_PROBE (5: requests before a clearly slower split
// stops), BENCH_SPLIT_SECONDS (60: the sweep's limit per split and speed; the splits the planner
// chooses are then topped up to BENCH_REQUESTS whatever it takes), BENCH_WARMUP (2), BENCH_DEVICE_CLASS (phone-snapdragon-865),
// BENCH_EDGE_CLASS (jetson-xavier-nx), BENCH_EDGE_CPUS (1: the fastest class's quota, in cores),
// BENCH_CPU_PERIOD_US (5000: the CFS period of the containers' quotas),
// BENCH_MODEL_DIR (models/reference; missing models are generated there), BENCH_IMAGE (an image
// with eiaas-serve already built; default: deploy/Dockerfile built as the docker tests build it). Needs root and a Docker
// engine (scripts/ensure-docker.sh). Ctrl-C removes the containers (and with them the shaping).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerAvailability, projectImage, testImages } from "@eiaas/testing";
import { writeReferenceModels } from "../scripts/models/main.js";
import type { ReferenceModel } from "../scripts/models/reference.js";
import { median, type Sample } from "./dataplane/client.js";
import { measureNodeSpeed } from "./dataplane/calibration.js";
import { benchNodes, hardwareClasses, type BenchNode } from "./dataplane/fleet.js";
import { measureModel, topUp, type ModelRun } from "./dataplane/measure.js";
import { figure, planner, type Profile } from "./dataplane/planning.js";
import { printReport, type CaseRow } from "./dataplane/report.js";
import { loadModel, type BenchModel } from "./dataplane/segments.js";
import { bridgeGateway, Testbed } from "./dataplane/testbed.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const env = process.env;
const MODELS = (env.BENCH_MODELS ?? "resnet18,mobilenetv2,alexnet,vgg16").split(",").map((s) => s.trim()) as ReferenceModel[];
const MBPS = (env.BENCH_MBPS ?? "1,10,100").split(",").map(Number);
const REQUESTS = Number(env.BENCH_REQUESTS ?? 50);
const MODEL_DIR = env.BENCH_MODEL_DIR ?? join(ROOT, "models/reference");
/** The containers' CFS period (see DockerRuntimeOptions.cpuPeriodUs): 5 ms spreads a 0.2-core quota evenly. */
const CPU_PERIOD_US = Number(env.BENCH_CPU_PERIOD_US ?? 5000);
const speeds = (n: BenchNode) =>
  `${n.gflops.toFixed(1)} GFLOPS; ${Object.entries(n.gflopsByOperator)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(", ")}`;
const log = (line: string) => console.error(`[dataplane] ${line}`);

/** Measured device energy of a split (mJ): its compute at the class's computeW, its upload at transmitW. */
function energyOf(samples: Sample[], j: number, n: number, device: BenchNode): number {
  const compute = j === 0 ? 0 : median(samples.map((s) => s.headWorkMs));
  const upload = j === n ? 0 : j === 0 ? median(samples.map((s) => s.totalMs - s.headWorkMs)) : median(samples.map((s) => s.wireMs ?? 0));
  return compute * device.hardware.computeW + upload * device.hardware.transmitW;
}

/** The figures serving tasks would report: device ranges 1..j, edge ranges j+1..n (medians over every speed). */
function profileOf(run: ModelRun, n: number): Profile {
  const pooled = new Map<number, Sample[]>();
  const seen = new Set<Sample[]>();
  for (const bySplit of run.samples.values())
    for (const [j, s] of bySplit) {
      if (seen.has(s)) continue;
      seen.add(s);
      pooled.set(j, [...(pooled.get(j) ?? []), ...s]);
    }
  const device = [];
  const edge = [];
  for (const [j, s] of pooled) {
    if (j >= 1) device.push(figure(n, 1, j, median(s.map((x) => x.headWorkMs)), s.length));
    if (j === 0) edge.push(figure(n, 1, n, median(s.map((x) => x.headWorkMs)), s.length));
    else if (j < n) edge.push(figure(n, j + 1, n, median(s.map((x) => x.tailWorkMs!)), s.length));
  }
  return { device, edge };
}

/** The splits the planner chooses at each speed (either objective, from flops alone and with the run's profile): the cases the report is made of. */
function plannedSplits(model: BenchModel, run: ModelRun, device: BenchNode, edge: BenchNode): Map<number, Set<number>> {
  const profile = profileOf(run, model.layers.length);
  const wanted = new Map<number, Set<number>>();
  for (const mbps of MBPS) {
    const p = planner(model, device, edge, mbps, run.rttMs.get(mbps)!);
    for (const objective of ["latency", "energy"] as const) for (const j of [p.choose(objective).split, p.choose(objective, profile).split]) wanted.set(j, (wanted.get(j) ?? new Set()).add(mbps));
  }
  return wanted;
}

function rowsOf(model: BenchModel, run: ModelRun, device: BenchNode, edge: BenchNode): CaseRow[] {
  const n = model.layers.length;
  const profile = profileOf(run, n);
  const rows: CaseRow[] = [];
  for (const mbps of MBPS) {
    const bySplit = run.samples.get(mbps)!;
    const p = planner(model, device, edge, mbps, run.rttMs.get(mbps)!);
    const latency = (j: number) => median(bySplit.get(j)!.map((s) => s.totalMs));
    for (const objective of ["latency", "energy"] as const) {
      const flops = p.choose(objective);
      const profiled = p.choose(objective, profile);
      const score = (j: number) => (objective === "latency" ? latency(j) : energyOf(bySplit.get(j)!, j, n, device));
      // Splits stopped early had fewer requests; the best is taken over all that were measured.
      const splits = [...bySplit.keys()];
      const bestSplit = splits.reduce((a, b) => (score(b) < score(a) ? b : a));
      const measuredAt = (j: number) => (bySplit.has(j) ? latency(j) : NaN);
      rows.push({
        model: model.name,
        mbps,
        objective,
        flopsSplit: flops.split,
        profiledSplit: profiled.split,
        layers: n,
        predictedFlopsMs: flops.latencyMs,
        predictedProfiledMs: profiled.latencyMs,
        measuredFlopsMs: measuredAt(flops.split),
        measuredProfiledMs: measuredAt(profiled.split),
        requests: bySplit.get(profiled.split)?.length ?? 0,
        deviceOnlyMs: latency(n),
        edgeOnlyMs: latency(0),
        bestSplit,
        bestMs: latency(bestSplit),
        chosenScore: bySplit.has(profiled.split) ? score(profiled.split) : Infinity,
        bestScore: score(bestSplit),
      });
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const engine = dockerAvailability();
  if (!engine.available) throw new Error(`no Docker engine: ${engine.reason}`);
  const missing = MODELS.filter((m) => !existsSync(join(MODEL_DIR, `${m}.onnx`)));
  if (missing.length) {
    log(`generating ${missing.join(", ")} into ${MODEL_DIR}`);
    writeReferenceModels(MODEL_DIR, { only: missing });
  }
  const image = env.BENCH_IMAGE ?? (log("building the image (cached when unchanged)"), await projectImage(await testImages()));
  const gateway = await bridgeGateway();

  const classes = hardwareClasses();
  const cls = (name: string) =>
    classes.get(name) ??
    (() => {
      throw new Error(`no class ${name} in hardware.yaml`);
    })();
  const [device, edge] = benchNodes(
    [
      { role: "device", hardware: cls(env.BENCH_DEVICE_CLASS ?? "phone-snapdragon-865") },
      { role: "edge", hardware: cls(env.BENCH_EDGE_CLASS ?? "jetson-xavier-nx") },
    ],
    Number(env.BENCH_EDGE_CPUS ?? 1),
  ) as [BenchNode, BenchNode];

  const segments = new Map<string, Uint8Array>();
  const bed = new Testbed(image, gateway, segments, CPU_PERIOD_US);
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      if (stopping) return;
      stopping = true;
      log(`${sig}: removing the containers`);
      void bed.cleanup().finally(() => process.exit(130));
    });
  }
  const rows: CaseRow[] = [];
  try {
    for (const node of [device, edge]) {
      const speed = await measureNodeSpeed(bed, segments, node);
      node.gflops = speed.gflops;
      node.gflopsByOperator = speed.byOperator;
      log(`${node.name} (${node.hardware.name}, ${node.hardware.gflops} GFLOPS) → ${node.cpus} cores, measured in its container: ${speeds(node)}`);
    }
    for (const name of MODELS) {
      const model = loadModel(name, join(MODEL_DIR, `${name}.onnx`));
      log(`${name}: ${model.layers.length} layers, input ${model.inputShape.join("x")}`);
      const options = {
        mbps: MBPS,
        requests: REQUESTS,
        probe: Number(env.BENCH_PROBE ?? 5),
        splitSeconds: Number(env.BENCH_SPLIT_SECONDS ?? 60),
        warmup: Number(env.BENCH_WARMUP ?? 2),
        log,
      };
      const run = await measureModel(bed, segments, model, device, edge, (mbps) => planner(model, device, edge, mbps, 1), options);
      // Twice: more requests move the profile, which may move a profiled choice to another split.
      for (let round = 0; round < 2; round++) await topUp(bed, segments, model, device, edge, run, plannedSplits(model, run, device, edge), options);
      rows.push(...rowsOf(model, run, device, edge));
    }
  } finally {
    await bed.cleanup();
  }
  const load = (await import("node:os")).loadavg();
  console.log(
    `\ndataplane bench: ${(await import("node:os")).cpus()[0]?.model} × ${(await import("node:os")).cpus().length}, load ${load.map((l) => l.toFixed(1)).join(" ")}; ${REQUESTS} requests per split and speed (fewer for a split stopped early)`,
  );
  console.log(
    `device ${device.hardware.name} ${device.cpus} cores (told to the planner: ${speeds(device)}), edge ${edge.hardware.name} ${edge.cpus} cores (${speeds(edge)}); CFS period ${CPU_PERIOD_US} µs; latencies in ms (medians)\n`,
  );
  printReport(rows);
}

main().catch((err: Error) => {
  console.error(`bench:dataplane: ${err.message}`);
  process.exit(1);
});
