// Answers reused instead of computed, at a chain's entry (issue 20 part 6, two of the survey's
// inference techniques): an edge cache of results for identical inputs, and frame differencing
// (an input close enough to the last one processed reuses that one's answer).
import { createHash } from "node:crypto";
import type { ExitOutcome } from "./timings.js";
import type { Tensor } from "./wire.js";

/** What a reused answer carries: the output and the exit that decided it. */
export interface ReusableAnswer {
  output: Tensor;
  exit?: ExitOutcome;
}

export interface ResultCacheOptions {
  /** Most answers kept; the least recently used goes first. */
  maxEntries: number;
  /** How long an answer may be reused after it was computed, seconds. */
  ttlSeconds: number;
  /** The clock (ms), for tests. @defaultValue Date.now */
  now?: () => number;
}

/**
 * Results of identical inputs, keyed by the SHA-256 of the shape and the float32 bytes (an input
 * that differs in one bit is another input). LRU bounded by `maxEntries`, each entry valid for
 * `ttlSeconds` after it was computed (a hit does not extend it: the model behind may have changed).
 */
export class ResultCache {
  // A Map iterates in insertion order: re-inserting on a hit makes its first key the least recent.
  private readonly entries = new Map<string, { answer: ReusableAnswer; expires: number }>();
  private readonly now: () => number;

  constructor(private readonly options: ResultCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  static key(input: Tensor): string {
    const d = input.data;
    return createHash("sha256")
      .update(input.shape.join(","))
      .update("\n")
      .update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
      .digest("base64");
  }

  get(key: string): ReusableAnswer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (e.expires <= this.now()) return undefined;
    this.entries.set(key, e);
    return e.answer;
  }

  set(key: string, answer: ReusableAnswer): void {
    this.entries.delete(key);
    this.entries.set(key, { answer, expires: this.now() + this.options.ttlSeconds * 1000 });
    while (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

export interface InputFilterOptions {
  /**
   * Mean absolute difference per element (in the input's own units) below which an input reuses
   * the last processed input's answer.
   */
  threshold: number;
  /** Streams (clients) whose last input is kept; the least recently seen goes first. @defaultValue 256 */
  maxStreams?: number;
}

/**
 * Frame differencing at the client entry: each stream's last *processed* input and its answer. An
 * input of the same shape whose mean absolute difference from it is below `threshold` reuses that
 * answer. Compared with the last processed input (not the last received), slow drift accumulates
 * until it crosses the threshold and is processed: a stream of skips never strays far.
 */
export class InputFilter {
  private readonly streams = new Map<string, { input: Float32Array; shape: string; answer: ReusableAnswer }>();
  private readonly maxStreams: number;

  constructor(private readonly options: InputFilterOptions) {
    this.maxStreams = Math.max(1, options.maxStreams ?? 256);
  }

  /** The answer `input` may reuse on `stream`, or undefined when it must be processed. */
  match(stream: string, input: Tensor): ReusableAnswer | undefined {
    const last = this.streams.get(stream);
    if (!last || last.shape !== input.shape.join(",") || last.input.length !== input.data.length) return undefined;
    return meanAbsDiff(last.input, input.data) < this.options.threshold ? last.answer : undefined;
  }

  /** Records a processed input (copied: the caller's buffer may be reused) and its answer. */
  processed(stream: string, input: Tensor, answer: ReusableAnswer): void {
    this.streams.delete(stream);
    this.streams.set(stream, { input: Float32Array.from(input.data), shape: input.shape.join(","), answer });
    while (this.streams.size > this.maxStreams) this.streams.delete(this.streams.keys().next().value!);
  }
}

/** Mean |a − b| over the elements (NaN counts as an infinite difference: such inputs are processed). */
export function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  const mean = sum / Math.max(1, a.length);
  return Number.isNaN(mean) ? Infinity : mean;
}

/** How many requests an entry answered, and how (the runtime's metrics and the task's status). */
export interface ReuseCounts {
  /** Requests answered (computed or reused). */
  requests: number;
  /** Answered from the result cache. */
  cacheHits: number;
  /** Looked up in the cache and not found (only counted when caching is on). */
  cacheMisses: number;
  /** Answered by the input filter (a near-duplicate of the stream's last processed input). */
  filterSkips: number;
}

export const emptyCounts = (): ReuseCounts => ({ requests: 0, cacheHits: 0, cacheMisses: 0, filterSkips: 0 });
