/**
 * What one server spent on a request, in milliseconds, and (when it forwarded) what the next
 * stage spent: the `timings` of a JSON reply and the `x-eiaas-timings` header of a binary one.
 */
export interface StageTimings {
  /** The node (or other label) of the server, when it was given one. */
  node?: string;
  /** The chain layers its segment runs (1-based, inclusive), when known. */
  layers?: { from: number; to: number };
  /**
   * Reading the request's body: from the request's arrival (its headers) to its last byte. The
   * sender's upload, not this server's work: the previous stage counts it in its `transferMs`.
   */
  receiveMs?: number;
  /** Waiting for a run slot (after the body was read and decoded). */
  queueMs: number;
  /** Decoding the body into a tensor and checking it. */
  deserializeMs: number;
  /** onnxruntime's `session.run()` of the segment. */
  runMs: number;
  /** The exit head's run and its softmax, when the server has one. */
  exitMs?: number;
  /** Encoding the answer tensor for the reply. */
  serializeMs: number;
  /** From the request's arrival to the reply's encoding done (reading the body included). */
  totalMs: number;
  /**
   * The wire both ways to the next stage: the forward's round trip minus the next stage's own
   * work (its `totalMs − receiveMs`), so the upload of the cut tensor and the reply's way back.
   */
  transferMs?: number;
  next?: StageTimings;
  /** The answer was not computed: reused from the result cache, or by the input filter (a near-duplicate). */
  reused?: "cache" | "filter";
}

/** How an early exit went: its head's top-1 softmax confidence, and whether that reached the threshold. */
export interface ExitOutcome {
  taken: boolean;
  confidence: number;
  threshold: number;
}

/**
 * A stage's own work on one request: decoding its input, running its segment (and exit head),
 * encoding its answer — what the node spends on it, the figure a ModelProfile keeps
 * (docs/dataplane.md). Not its body's reading (the sender's upload over the link, which the
 * planner prices as transfer), its wait for a run slot (load, not speed) or the next stage's work.
 */
export function stageWorkMs(t: Pick<StageTimings, "deserializeMs" | "runMs" | "exitMs" | "serializeMs">): number {
  return t.deserializeMs + t.runMs + (t.exitMs ?? 0) + t.serializeMs;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
const NUMBERS = ["receiveMs", "queueMs", "deserializeMs", "runMs", "exitMs", "serializeMs", "totalMs", "transferMs"] as const;

/** Rounds to the microsecond (the reply's figures), recursively. */
export function rounded(t: StageTimings): StageTimings {
  const out: StageTimings = { ...t };
  for (const k of NUMBERS) if (out[k] !== undefined) out[k] = round(out[k]!);
  if (t.next) out.next = rounded(t.next);
  return out;
}

/** The `server-timing` header: `queue;dur=0.01, run;dur=1.2, next.run;dur=3.4, ...`. */
export function serverTiming(t: StageTimings, prefix = ""): string {
  const parts: string[] = [];
  for (const k of NUMBERS) {
    const v = t[k];
    if (v !== undefined) parts.push(`${prefix}${k.slice(0, -2)};dur=${round(v)}`);
  }
  if (t.next) parts.push(serverTiming(t.next, `${prefix}next.`));
  return parts.join(", ");
}

/**
 * Reads the timings a next stage reported (its `x-eiaas-timings` header): numbers only, strings
 * bounded, at most `depth` stages deep. Anything else is dropped, never trusted into our reply.
 */
export function parseTimings(raw: unknown, depth = 8): StageTimings | undefined {
  if (depth <= 0 || typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
  const out: StageTimings = { queueMs: num(r.queueMs) ?? 0, deserializeMs: num(r.deserializeMs) ?? 0, runMs: num(r.runMs) ?? 0, serializeMs: num(r.serializeMs) ?? 0, totalMs: num(r.totalMs) ?? 0 };
  for (const k of ["receiveMs", "exitMs", "transferMs"] as const) if (num(r[k]) !== undefined) out[k] = num(r[k]);
  if (typeof r.node === "string" && r.node.length <= 253) out.node = r.node;
  const l = r.layers as { from?: unknown; to?: unknown } | undefined;
  if (l && Number.isSafeInteger(l.from) && Number.isSafeInteger(l.to)) out.layers = { from: l.from as number, to: l.to as number };
  if (r.reused === "cache" || r.reused === "filter") out.reused = r.reused;
  const next = parseTimings(r.next, depth - 1);
  if (next) out.next = next;
  return out;
}
