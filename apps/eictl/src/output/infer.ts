// What `eictl infer` prints: the answer's top-5, which node ran which layers, and the measured
// head / transfer / tail / total times beside the plan's prediction.
import type { InferenceEntry } from "@eiaas/client";
import type { InferReply, StageTimings } from "../cli/infer-call.js";
import { formatTable } from "./table.js";

export interface StageRow {
  node: string;
  layers?: string;
  runMs: number;
  transferMs?: number;
  reused?: "cache" | "filter";
}

/**
 * The times of one request (ms), split as the client path runs. Head, transfer and tail add up to
 * the total (to the stages' µs rounding): each stage's own work is its `totalMs` less reading its
 * request (`receiveMs`, the sender's upload) and less its forward's round trip; everything else is
 * the wire.
 */
export interface Times {
  /** The entry stage's own work: decoding, waiting for a slot, its model run (and exit head), encoding. */
  headMs: number;
  /**
   * The wire, both ways: the client's input to the entry and its answer back, and every hop's
   * `transferMs` (the cut tensor's upload and the reply).
   */
  transferMs: number;
  /** The later stages' own work. */
  tailMs: number;
  /** The round trip as the client saw it. */
  totalMs: number;
  /** The entry server's own time, request arrival to reply encoded. */
  serverMs: number;
}

export interface InferSummary {
  apiVersion: "eiaas.io/v1alpha1";
  kind: "InferenceResult";
  service: string;
  client: string;
  entry: { node: string; role: string; task?: string; address: string };
  plan: InferenceEntry["plan"];
  output: { shape: number[]; top5: Array<{ class: number; probability: number }> };
  exit?: { taken: boolean; confidence: number; threshold: number };
  stages: StageRow[];
  requests: number;
  /** Requests answered without running the model: from the cache, by the input filter. */
  reused: { cache: number; filter: number };
  /** One request's times, or the medians over `requests`. */
  measured: Times;
  predicted: { latencyMs: number };
}

/** The chain's stages, entry first. */
export function stagesOf(t: StageTimings | undefined): StageRow[] {
  const rows: StageRow[] = [];
  for (let s = t, depth = 0; s && depth < 8; s = s.next, depth++) {
    rows.push({
      node: s.node ?? "?",
      ...(s.layers ? { layers: `${s.layers.from}-${s.layers.to}` } : {}),
      runMs: (s.runMs ?? 0) + (s.exitMs ?? 0),
      ...(s.transferMs !== undefined ? { transferMs: s.transferMs } : {}),
      ...(s.reused ? { reused: s.reused } : {}),
    });
  }
  return rows;
}

/** A stage's time once its request has arrived whole: its `totalMs` less reading the body. */
function afterReceive(s: StageTimings): number {
  return (s.totalMs ?? 0) - (s.receiveMs ?? 0);
}

/** A stage's own work: what it spent once its request arrived, less its forward's round trip. */
function ownWork(s: StageTimings): number {
  const forward = s.next ? (s.transferMs ?? 0) + afterReceive(s.next) : 0;
  return afterReceive(s) - forward;
}

export function timesOf(r: InferReply): Times {
  const chain: StageTimings[] = [];
  for (let s = r.timings, depth = 0; s && depth < 8; s = s.next, depth++) chain.push(s);
  const entry = chain[0];
  // The client's own hop (its input up to the entry, the answer back) is the round trip less what
  // the entry spent once the input had arrived.
  const clientWire = entry ? r.roundTripMs - afterReceive(entry) : r.roundTripMs;
  return {
    headMs: entry ? ownWork(entry) : 0,
    transferMs: clientWire + chain.reduce((sum, s) => sum + (s.next ? (s.transferMs ?? 0) : 0), 0),
    tailMs: chain.slice(1).reduce((sum, s) => sum + ownWork(s), 0),
    totalMs: r.roundTripMs,
    serverMs: entry?.totalMs ?? 0,
  };
}

export function medianTimes(all: readonly Times[]): Times {
  const med = (k: keyof Times) => {
    const v = all.map((t) => t[k]).sort((a, b) => a - b);
    const m = v.length >> 1;
    return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
  };
  return { headMs: med("headMs"), transferMs: med("transferMs"), tailMs: med("tailMs"), totalMs: med("totalMs"), serverMs: med("serverMs") };
}

/** The five most probable classes of the answer's first row (softmax over the last axis). */
export function top5(r: Pick<InferReply, "shape" | "data">): Array<{ class: number; probability: number }> {
  const classes = r.shape.at(-1) ?? r.data.length;
  const row = r.data.subarray(0, classes);
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return Array.from(row, (v, i) => ({ class: i, probability: Math.exp(v - max) / sum }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, 5)
    .map((c) => ({ class: c.class, probability: Math.round(c.probability * 1e4) / 1e4 }));
}

const ms = (v: number | undefined) => (v === undefined ? "" : `${(Math.round(v * 100) / 100).toFixed(2)}ms`);

export function inferText(s: InferSummary): string {
  const p = s.plan;
  const where = [p.headNode ? `head ${p.headNode}` : "", p.tailNode ? `${p.headNode ? "tail" : "server"} ${p.tailNode}` : ""].filter(Boolean).join(", ");
  const lines = [
    `${s.service} for ${s.client}: ${p.architecture}, split after layer ${p.split} (${where}), variant ${p.variant}; entry ${s.entry.address} (${s.entry.role} on ${s.entry.node})`,
    `answer [${s.output.shape.join(",")}]${s.exit?.taken ? `, early exit (confidence ${s.exit.confidence.toFixed(3)} ≥ ${s.exit.threshold})` : ""}, top-5:`,
    ...s.output.top5.map((c, i) => `  ${i + 1}. class ${c.class}  ${c.probability.toFixed(4)}`),
  ];
  const reused = s.reused.cache + s.reused.filter;
  if (reused > 0) lines.push(`reused without running the model: ${s.reused.cache} from the cache, ${s.reused.filter} by the input filter (of ${s.requests})`);
  lines.push(
    "",
    formatTable(
      s.stages.map((r) => [r.node, r.layers ?? "", r.reused ? `reused (${r.reused})` : ms(r.runMs), ms(r.transferMs)]),
      { header: ["NODE", "LAYERS", "RUN", "TRANSFER"] },
    ).trimEnd(),
    "",
  );
  const m = s.measured;
  const label = s.requests > 1 ? `MEASURED (median of ${s.requests})` : "MEASURED";
  lines.push(
    formatTable(
      [
        ["head", ms(m.headMs), ""],
        ["transfer", ms(m.transferMs), ""],
        ["tail", ms(m.tailMs), ""],
        ["total", ms(m.totalMs), ms(s.predicted.latencyMs)],
        ["(entry server)", ms(m.serverMs), ""],
      ],
      { header: ["TIME", label, "PREDICTED"] },
    ).trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}
