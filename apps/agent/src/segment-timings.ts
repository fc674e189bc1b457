import { MAX_MEASURED_MS, SEGMENT_TIMING_REPORT_MAX, type SegmentTiming } from "@eiaas/api";
import { ApiRequestError, type EiaasClient } from "@eiaas/client";
import type { SegmentTimingSample } from "@eiaas/runtime";
import type { Logger } from "@eiaas/telemetry";

export interface SegmentTimingsOptions {
  /** Samples older than this leave the median. Default 60 s. */
  windowMs?: number;
  /** Most samples kept per (task, layer range): the newest. Default 256. */
  samplesPerKey?: number;
  /** Most (task, layer range) keys held; samples of further keys are dropped until some age out. Default 1 024. */
  maxKeys?: number;
  /** The clock (tests). Default Date.now. */
  now?: () => number;
}

interface Window {
  namespace: string;
  task: string;
  fromLayer: number;
  toLayer: number;
  /** Ring of (time, ms), oldest first once full. */
  at: number[];
  ms: number[];
  /** Samples since the last report. */
  fresh: number;
}

/**
 * What the node's serving tasks measured, per (task, layer range), over a sliding window: the
 * agent's side of Neurosurgeon's profiling (issue 20 part 7). A serving runtime calls `record` for
 * each request; `take` gives a report's timings (median and count over the window) for the keys
 * with samples since the last report. Bounded in keys and samples, so a runtime gone wild costs
 * a fixed amount of memory; malformed samples are dropped.
 */
export class SegmentTimings {
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private readonly perKey: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(o: SegmentTimingsOptions = {}) {
    this.windowMs = o.windowMs ?? 60_000;
    this.perKey = o.samplesPerKey ?? 256;
    this.maxKeys = o.maxKeys ?? 1_024;
    this.now = o.now ?? Date.now;
  }

  /** Records one request's time; false when the sample is malformed or no room is left. */
  record(s: SegmentTimingSample): boolean {
    const { fromLayer, toLayer, ms } = s;
    if (!Number.isInteger(fromLayer) || !Number.isInteger(toLayer) || fromLayer < 1 || toLayer < fromLayer) return false;
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_MEASURED_MS) return false;
    if (typeof s.task?.namespace !== "string" || typeof s.task?.name !== "string") return false;
    const key = `${s.task.namespace}/${s.task.name}/${fromLayer}-${toLayer}`;
    let w = this.windows.get(key);
    if (!w) {
      if (this.windows.size >= this.maxKeys) this.expire();
      if (this.windows.size >= this.maxKeys) return false;
      w = { namespace: s.task.namespace, task: s.task.name, fromLayer, toLayer, at: [], ms: [], fresh: 0 };
      this.windows.set(key, w);
    }
    if (w.ms.length >= this.perKey) {
      w.at.shift();
      w.ms.shift();
    }
    w.at.push(this.now());
    w.ms.push(ms);
    w.fresh++;
    return true;
  }

  /** Forgets a task's figures (it is gone, or the API said it is not this node's). */
  forget(namespace: string, task: string): void {
    for (const [key, w] of this.windows) if (w.namespace === namespace && w.task === task) this.windows.delete(key);
  }

  /** Marks timings taken but not delivered as news again: the next `take` reports their windows. */
  untake(timings: readonly SegmentTiming[]): void {
    for (const t of timings) {
      const w = this.windows.get(`${t.namespace}/${t.task}/${t.fromLayer}-${t.toLayer}`);
      if (w) w.fresh = Math.max(w.fresh, 1);
    }
  }

  /** The timings to report: median and count over the window of every key with samples since the last `take`. */
  take(): SegmentTiming[] {
    this.expire();
    const out: SegmentTiming[] = [];
    for (const w of this.windows.values()) {
      if (w.fresh === 0 || w.ms.length === 0) continue;
      w.fresh = 0;
      out.push({ namespace: w.namespace, task: w.task, fromLayer: w.fromLayer, toLayer: w.toLayer, medianMs: median(w.ms), count: w.ms.length });
    }
    return out;
  }

  /** Drops samples past the window, and keys left without any. */
  private expire(): void {
    const oldest = this.now() - this.windowMs;
    for (const [key, w] of this.windows) {
      let drop = 0;
      while (drop < w.at.length && w.at[drop]! < oldest) drop++;
      if (drop) {
        w.at.splice(0, drop);
        w.ms.splice(0, drop);
      }
      if (w.ms.length === 0) this.windows.delete(key);
    }
  }
}

function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export interface TimingReporterOptions {
  client: () => EiaasClient;
  nodeName: string;
  timings: SegmentTimings;
  logger: Logger;
  /** Report period. Default 30 s. */
  periodMs?: number;
}

/**
 * Sends the node's segment timings to the API every period, in batches of at most 256. A timing
 * the API refuses because its task is not this node's (403, cause `timings[i].task`: deleted, or
 * moved) is forgotten, and the rest of that batch is sent again; other failures wait for the next
 * period (the next report carries the window again, so nothing is lost but time).
 */
export class TimingReporter {
  private timer?: NodeJS.Timeout;
  private sending?: Promise<void>;

  constructor(private readonly o: TimingReporterOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.o.periodMs ?? 30_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Reports what was measured since the last report (one report at a time). */
  flush(): Promise<void> {
    this.sending ??= this.send().finally(() => (this.sending = undefined));
    return this.sending;
  }

  private async send(): Promise<void> {
    const all = this.o.timings.take();
    for (let i = 0; i < all.length; i += SEGMENT_TIMING_REPORT_MAX) {
      let batch = all.slice(i, i + SEGMENT_TIMING_REPORT_MAX);
      for (let attempt = 0; batch.length > 0 && attempt < 2; attempt++) {
        try {
          await this.o.client().reportSegmentTimings(this.o.nodeName, batch);
          break;
        } catch (err) {
          const refused = err instanceof ApiRequestError && err.code === 403 ? refusedIndices(err) : new Set<number>();
          if (refused.size === 0) {
            this.o.logger.debug({ err, node: this.o.nodeName }, "segment timing report failed; the next period reports again");
            this.o.timings.untake(batch);
            break;
          }
          for (const k of refused) this.o.timings.forget(batch[k]!.namespace, batch[k]!.task);
          batch = batch.filter((_, k) => !refused.has(k));
        }
      }
    }
  }
}

/** The timings a 403 names (`timings[i].task`). */
function refusedIndices(err: ApiRequestError): Set<number> {
  const out = new Set<number>();
  for (const c of err.causes) {
    const m = /^timings\[(\d+)\]\.task$/.exec(c.field ?? "");
    if (m) out.add(Number(m[1]));
  }
  return out;
}
