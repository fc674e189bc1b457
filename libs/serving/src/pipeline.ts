import { Admission } from "./admission.js";
import { NextStage, type ForwardResult } from "./forward.js";
import { InputFilter, ResultCache, emptyCounts, type InputFilterOptions, type ResultCacheOptions, type ReuseCounts } from "./reuse.js";
import { ResolvedNextStage, type Forwarder, type NextStageSource } from "./next-resolver.js";
import { SegmentModel } from "./session.js";
import type { ExitOutcome, StageTimings } from "./timings.js";
import type { Tensor } from "./wire.js";

export interface PipelineOptions {
  /** The segment's ONNX bytes: one float32 input (the cut tensor entering it, or the model's input) and one output. */
  model: Uint8Array;
  /** An early-exit head reading the segment's output (ONNX bytes): its output is class logits. */
  exitHead?: Uint8Array;
  /** Top-1 softmax confidence at or above which the exit head answers (0..1). Required with `exitHead`. */
  exitThreshold?: number;
  /** The next stage's endpoint (`host:port`): the segment's output is forwarded there unless the exit answered. */
  next?: string;
  /**
   * The next stage looked up at request time instead (a split plan's head finds its tail's current
   * endpoint through the control plane). Ignored when `next` is given.
   */
  nextStage?: NextStageSource;
  /** onnxruntime intra-op threads per session. @defaultValue 1 */
  threads?: number;
  /** Model runs at once. @defaultValue 1 */
  maxRunning?: number;
  /** Requests admitted beyond those running (queued or forwarding); more are refused with 429. @defaultValue 16 */
  maxWaiting?: number;
  /** Forward timeout. @defaultValue 30000 */
  forwardTimeoutMs?: number;
  /** Reuse the answers of identical inputs (the chain's entry only: a later stage sees cut tensors). */
  caching?: Omit<ResultCacheOptions, "now">;
  /** Frame differencing: an input close to its stream's last processed one reuses that answer (entry only). */
  inputFilter?: InputFilterOptions;
}

/** What the stages made of one input. */
export interface PipelineAnswer {
  output: Tensor;
  exit?: ExitOutcome;
  queueMs: number;
  runMs: number;
  exitMs?: number;
  forward?: ForwardResult;
  /** Not computed: reused from the result cache or by the input filter. */
  reused?: "cache" | "filter";
}

/** Top-1 softmax probability of each row (the last axis), the smallest of them: the batch exits only when every item is confident. */
export function topConfidence(logits: Tensor): number {
  const classes = logits.shape.at(-1) ?? logits.data.length;
  if (classes === 0) return 0;
  let least = 1;
  for (let row = 0; row < logits.data.length; row += classes) {
    let max = -Infinity;
    for (let i = row; i < row + classes; i++) max = Math.max(max, logits.data[i]!);
    let sum = 0;
    for (let i = row; i < row + classes; i++) sum += Math.exp(logits.data[i]! - max);
    least = Math.min(least, 1 / sum);
  }
  return least;
}

/**
 * The serving program's stages behind the HTTP layer: the segment's session, optionally an exit
 * head after it, optionally the next stage it forwards to. Runs hold one of `maxRunning` slots; the
 * forward does not (the next stage's time is not this server's CPU).
 */
export class Pipeline {
  readonly admission: Admission;
  private readonly cache: ResultCache | undefined;
  private readonly filter: InputFilter | undefined;
  private readonly reuse: ReuseCounts = emptyCounts();

  private constructor(
    readonly segment: SegmentModel,
    readonly exitHead: SegmentModel | undefined,
    readonly exitThreshold: number | undefined,
    readonly next: Forwarder | undefined,
    options: PipelineOptions,
  ) {
    this.admission = new Admission(Math.max(1, options.maxRunning ?? 1), Math.max(0, options.maxWaiting ?? 16));
    this.cache = options.caching ? new ResultCache(options.caching) : undefined;
    this.filter = options.inputFilter ? new InputFilter(options.inputFilter) : undefined;
  }

  /** Requests answered so far, and how many of them were reused (a copy). */
  counts(): ReuseCounts {
    return { ...this.reuse };
  }

  /** Loads the sessions and checks the configuration; a bad one is an Error saying what is wrong. */
  static async load(options: PipelineOptions): Promise<Pipeline> {
    checkReuse(options);
    const t = options.exitThreshold;
    if (options.exitHead && (t === undefined || !(t >= 0 && t <= 1))) {
      throw new Error(`an exit head needs a confidence threshold between 0 and 1${t === undefined ? "" : `, not ${t}`}`);
    }
    const forward = options.forwardTimeoutMs !== undefined ? { timeoutMs: options.forwardTimeoutMs } : {};
    const next = options.next ? new NextStage(options.next, forward) : options.nextStage ? new ResolvedNextStage(options.nextStage, forward) : undefined;
    const threads = options.threads ?? 1;
    let segment: SegmentModel | undefined;
    try {
      segment = await SegmentModel.load(options.model, { threads, what: "segment" });
      let exitHead: SegmentModel | undefined;
      if (options.exitHead) {
        exitHead = await SegmentModel.load(options.exitHead, { threads, what: "exit head" });
        if (!segment.feeds(exitHead)) {
          await exitHead.release();
          throw new Error(`the exit head's input ${exitHead.input.name} [${exitHead.input.dims.join(",")}] does not fit the segment's output [${segment.output.dims.join(",")}]`);
        }
      }
      return new Pipeline(segment, exitHead, t, next, options);
    } catch (err) {
      await segment?.release();
      next?.close();
      throw err;
    }
  }

  /**
   * Answers the input: from the result cache when an identical input was answered within its TTL,
   * else by the input filter when it is a near-duplicate of `stream`'s last processed input, else
   * through the stages (and then remembered by both). Call within an admission (`admission.enter()`).
   */
  async answer(input: Tensor, stream = ""): Promise<PipelineAnswer> {
    this.reuse.requests++;
    const key = this.cache ? ResultCache.key(input) : undefined;
    if (key !== undefined) {
      const hit = this.cache!.get(key);
      if (hit) {
        this.reuse.cacheHits++;
        return reusedAnswer(hit, "cache");
      }
      this.reuse.cacheMisses++;
    }
    const near = this.filter?.match(stream, input);
    if (near) {
      this.reuse.filterSkips++;
      return reusedAnswer(near, "filter");
    }
    const answer = await this.compute(input);
    const keep = { output: answer.output, ...(answer.exit ? { exit: answer.exit } : {}) };
    if (key !== undefined) this.cache!.set(key, keep);
    this.filter?.processed(stream, input, keep);
    return answer;
  }

  /** Runs the input through the stages. */
  private async compute(input: Tensor): Promise<PipelineAnswer> {
    const queued = performance.now();
    const release = await this.admission.slot();
    const started = performance.now();
    let output: Tensor;
    let exit: ExitOutcome | undefined;
    let exitMs: number | undefined;
    let runMs: number;
    try {
      output = await this.segment.run(input);
      runMs = performance.now() - started;
      if (this.exitHead) {
        const logits = await this.exitHead.run(output);
        const confidence = topConfidence(logits);
        exit = { taken: confidence >= this.exitThreshold!, confidence, threshold: this.exitThreshold! };
        if (exit.taken) output = logits;
        exitMs = performance.now() - started - runMs;
      }
    } finally {
      release();
    }
    const answer: PipelineAnswer = { output, queueMs: started - queued, runMs, ...(exit ? { exit } : {}), ...(exitMs !== undefined ? { exitMs } : {}) };
    if (this.next && !exit?.taken) {
      const forward = await this.next.infer(output);
      answer.forward = forward;
      answer.output = forward.output;
      // A later stage's exit decided the answer; ours (not taken) is in our timings only.
      if (forward.exit) answer.exit = forward.exit;
    }
    return answer;
  }

  /** This stage's timings for an answer, with the next stage's under `next`. */
  timings(a: PipelineAnswer, t: { receiveMs?: number; deserializeMs: number; serializeMs: number; totalMs: number }, label: Pick<StageTimings, "node" | "layers">): StageTimings {
    const out: StageTimings = {
      ...label,
      ...(t.receiveMs !== undefined ? { receiveMs: t.receiveMs } : {}),
      queueMs: a.queueMs,
      deserializeMs: t.deserializeMs,
      runMs: a.runMs,
      serializeMs: t.serializeMs,
      totalMs: t.totalMs,
    };
    if (a.reused) out.reused = a.reused;
    if (a.exitMs !== undefined) out.exitMs = a.exitMs;
    if (a.forward) {
      // The next stage's own work starts once our upload has arrived: reading it is the wire's.
      const nextWork = (a.forward.timings?.totalMs ?? 0) - (a.forward.timings?.receiveMs ?? 0);
      out.transferMs = Math.max(0, a.forward.roundTripMs - nextWork);
      if (a.forward.timings) out.next = a.forward.timings;
    }
    return out;
  }

  async close(): Promise<void> {
    this.next?.close();
    await Promise.all([this.segment.release(), this.exitHead?.release()]);
  }
}

function reusedAnswer(a: { output: Tensor; exit?: ExitOutcome }, how: "cache" | "filter"): PipelineAnswer {
  return { output: a.output, ...(a.exit ? { exit: a.exit } : {}), queueMs: 0, runMs: 0, reused: how };
}

/** Refuses reuse settings that cannot work (an Error saying which). */
function checkReuse(options: PipelineOptions): void {
  const c = options.caching;
  if (c && !(Number.isSafeInteger(c.maxEntries) && c.maxEntries >= 1)) throw new Error(`caching: maxEntries must be a positive integer, not ${c.maxEntries}`);
  if (c && !(c.ttlSeconds > 0 && Number.isFinite(c.ttlSeconds))) throw new Error(`caching: ttlSeconds must be a positive number, not ${c.ttlSeconds}`);
  const f = options.inputFilter;
  if (f && !(f.threshold >= 0 && Number.isFinite(f.threshold))) throw new Error(`inputFilter: threshold must be a non-negative number, not ${f.threshold}`);
}
