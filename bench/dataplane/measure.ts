// One model on the testbed: every split j (layers 1..j on the device, j+1..n on the edge; j = n
// is device-only, j = 0 edge-only) served by real containers, its requests measured at each link
// speed. Splits are measured in the order the flops-based prediction ranks them, and one whose
// first requests are clearly slower than the best measured so far at that speed (median > 1.5×)
// stops early: it cannot be the best, and the bench stays within minutes on two cores.
import { AnswerError, BenchClient, median, type Sample } from "./client.js";
import type { BenchNode } from "./fleet.js";
import type { Planner } from "./planning.js";
import { segment, type BenchModel } from "./segments.js";
import { shapeLink } from "./shaping.js";
import type { Server, Testbed } from "./testbed.js";

export interface MeasureOptions {
  mbps: number[];
  requests: number;
  /** Requests before a split may stop early. */
  probe: number;
  /** No split is measured longer than this at one speed (s), once it has `probe` requests. */
  splitSeconds: number;
  warmup: number;
  log: (line: string) => void;
}

/** Samples by link speed, then split. */
export type ModelSamples = Map<number, Map<number, Sample[]>>;

export interface ModelRun {
  samples: ModelSamples;
  /** Median round trip of a tiny request to the edge's container at each speed (the planner's link RTT). */
  rttMs: Map<number, number>;
}

function randomInput(n: number): Buffer {
  const x = new Float32Array(n);
  let s = 1;
  for (let i = 0; i < n; i++) {
    s = (s * 16807) % 2147483647;
    x[i] = s / 2147483647 - 0.5;
  }
  return Buffer.from(x.buffer);
}

async function healthRtt(endpoint: string, count: number): Promise<number> {
  const { request } = await import("node:http");
  const [host, port] = [endpoint.slice(0, endpoint.lastIndexOf(":")), Number(endpoint.slice(endpoint.lastIndexOf(":") + 1))];
  const { Agent } = await import("node:http");
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  for (let i = 0; i < count + 2; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) =>
      request({ host, port, path: "/healthz", agent }, (res) => res.resume().on("end", resolve))
        .on("error", reject)
        .end(),
    );
    if (i >= 2) times.push(performance.now() - t0);
  }
  agent.destroy();
  return median(times);
}

/** Split j served: the entry the client posts to, and the edge server behind the shaped link (none for device-only). */
interface ServedSplit {
  entry: Server;
  link?: Server;
  close(): Promise<void>;
}

async function serveSplit(bed: Testbed, segments: Map<string, Uint8Array>, model: BenchModel, device: BenchNode, edge: BenchNode, j: number): Promise<ServedSplit> {
  const n = model.layers.length;
  const servers: Server[] = [];
  const name = (side: string) => `${model.name}-${j}-${side}`;
  const close = async () => {
    for (const s of servers.reverse()) await s.stop();
    for (const k of [...segments.keys()]) if (k.startsWith(`${model.name}-${j}-`)) segments.delete(k);
  };
  try {
    if (j === n || j === 0) {
      segments.set(name("all"), model.bytes);
      const entry = await bed.serve(j === n ? device : edge, "serve", name("all"), { from: 1, to: n });
      servers.push(entry);
      return { entry, ...(j === 0 ? { link: entry } : {}), close };
    }
    segments.set(name("tail"), segment(model, j + 1, n));
    segments.set(name("head"), segment(model, 1, j));
    const link = await bed.serve(edge, "tail", name("tail"), { from: j + 1, to: n });
    servers.push(link);
    const entry = await bed.serve(device, "head", name("head"), { from: 1, to: j }, link.endpoint);
    servers.push(entry);
    return { entry, link, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A split predicted this many times slower than the best measured at a speed is not measured there: it cannot be the best. */
const HOPELESS = 4;

/**
 * Requests of split j at one speed until `o.requests`, the time limit, or until it is clearly
 * slower than `known` (the best median so far): its median over 1.5× after `o.probe` requests, or
 * even its fastest request over 2×. Undefined when the entry answers 504: a later stage took longer
 * than the forward's limit (30 s), slower than any split that answers.
 */
async function sweepSpeed(client: BenchClient, j: number, n: number, known: number | undefined, o: MeasureOptions): Promise<Sample[] | undefined> {
  const got: Sample[] = [];
  const comparable = known !== undefined && j !== 0 && j !== n;
  try {
    for (let i = 0; i < o.warmup; i++) await client.infer();
    const t0 = performance.now();
    while (got.length < o.requests) {
      got.push(await client.infer());
      if (comparable && Math.min(...got.map((s) => s.totalMs)) > 2 * known) break;
      if (got.length < o.probe) continue;
      if (comparable && median(got.map((s) => s.totalMs)) > 1.5 * known) break;
      if (performance.now() - t0 > o.splitSeconds * 1000) break;
    }
  } catch (err) {
    if (err instanceof AnswerError && err.status === 504) return undefined;
    throw err;
  }
  return got;
}

export async function measureModel(
  bed: Testbed,
  segments: Map<string, Uint8Array>,
  model: BenchModel,
  device: BenchNode,
  edge: BenchNode,
  /** The planner's predictions at a link speed (Mbit/s). */
  rankAt: (mbps: number) => Planner,
  o: MeasureOptions,
): Promise<ModelRun> {
  const n = model.layers.length;
  const input = randomInput(model.inputShape.reduce((a, b) => a * b, 1));
  const samples: ModelSamples = new Map(o.mbps.map((b) => [b, new Map()]));
  const rttMs = new Map<number, number>();
  const best = new Map<number, number>();
  // Edge-only first (it gives the link's RTT), then by predicted latency at the middle speed.
  const middle = rankAt(o.mbps[Math.floor(o.mbps.length / 2)]!);
  const order = [0, ...Array.from({ length: n }, (_, i) => i + 1).sort((a, b) => middle.predict(a) - middle.predict(b))];
  const ranks = new Map(o.mbps.map((b) => [b, rankAt(b)]));
  for (const j of order) {
    const served = await serveSplit(bed, segments, model, device, edge, j);
    try {
      const client = new BenchClient(served.entry.endpoint, model.inputShape, input);
      // Device-only crosses no link: measured once, the same at every speed.
      const speeds = j === n ? [o.mbps[0]!] : o.mbps;
      for (const mbps of speeds) {
        const known = best.get(mbps);
        const predicted = ranks.get(mbps)!.predict(j);
        if (known !== undefined && j !== 0 && j !== n && predicted > HOPELESS * known) {
          o.log(`${model.name} split ${j}/${n} at ${mbps} Mbit/s: not measured, predicted ${predicted.toFixed(0)} ms > ${HOPELESS}× the best measured (${known.toFixed(0)} ms)`);
          continue;
        }
        if (served.link) await shapeLink(served.link.container, mbps);
        if (j === 0) rttMs.set(mbps, await healthRtt(served.link!.endpoint, 20));
        const got = await sweepSpeed(client, j, n, known, o);
        if (!got) {
          o.log(`${model.name} split ${j}/${n} at ${mbps} Mbit/s: no answer within the forward's limit (504): slower than any split that answers`);
          continue;
        }
        const m = median(got.map((s) => s.totalMs));
        if (!(m >= (best.get(mbps) ?? Infinity))) best.set(mbps, m);
        for (const b of j === n ? o.mbps : [mbps]) samples.get(b)!.set(j, got);
        o.log(`${model.name} split ${j}/${n} at ${j === n ? "any" : mbps} Mbit/s: median ${m.toFixed(1)} ms over ${got.length}`);
      }
      client.close();
    } finally {
      await served.close();
    }
  }
  return { samples, rttMs };
}

/**
 * Brings each wanted split (by link speed) to `o.requests` requests, with no time limit: the splits
 * the planner chose are the cases the bench reports, and their medians are taken over at least that
 * many (a split cut short by BENCH_SPLIT_SECONDS in the sweep may have had a handful). A split not
 * measured in the sweep at all (stopped early) is measured here from its first request.
 */
export async function topUp(
  bed: Testbed,
  segments: Map<string, Uint8Array>,
  model: BenchModel,
  device: BenchNode,
  edge: BenchNode,
  run: ModelRun,
  wanted: Map<number, Set<number>>,
  o: MeasureOptions,
): Promise<void> {
  const n = model.layers.length;
  const input = randomInput(model.inputShape.reduce((a, b) => a * b, 1));
  for (const [j, speeds] of wanted) {
    // Device-only's samples are one array shared by every speed.
    const todo = [...(j === n ? [o.mbps[0]!] : speeds)].filter((mbps) => (run.samples.get(mbps)!.get(j)?.length ?? 0) < o.requests);
    if (!todo.length) continue;
    const served = await serveSplit(bed, segments, model, device, edge, j);
    try {
      const client = new BenchClient(served.entry.endpoint, model.inputShape, input);
      for (const mbps of todo) {
        if (served.link) await shapeLink(served.link.container, mbps);
        const got = run.samples.get(mbps)!.get(j) ?? [];
        const had = got.length;
        try {
          for (let i = 0; i < o.warmup; i++) await client.infer();
          while (got.length < o.requests) got.push(await client.infer());
        } catch (err) {
          if (!(err instanceof AnswerError && err.status === 504)) throw err;
          o.log(`${model.name} split ${j}/${n} at ${mbps} Mbit/s: no answer within the forward's limit (504) while topping up`);
          continue;
        }
        for (const b of j === n ? o.mbps : [mbps]) run.samples.get(b)!.set(j, got);
        o.log(`${model.name} split ${j}/${n} at ${j === n ? "any" : mbps} Mbit/s topped up ${had} → ${got.length}: median ${median(got.map((s) => s.totalMs)).toFixed(1)} ms`);
      }
      client.close();
    } finally {
      await served.close();
    }
  }
}
