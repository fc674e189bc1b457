import { MEASURED_OPTIONS_PER_CLIENT, MEASUREMENT_MAX_AGE_MS, MODEL_PROFILE_MAX_SEGMENTS, sameOption, type MeasuredClientLatency, type MeasuredSegment } from "@eiaas/api";

/**
 * When a reported figure is worth a write (the rest of a report is news to nobody): the heartbeat's
 * rule for measured links, applied to timings.
 */
export interface FigureWritePolicy {
  /** A median that moved by more than this fraction of the stored one is written. Default 0.05. */
  changeFraction?: number;
  /** A stored figure older than this is rewritten (refreshed) even when unchanged, so it does not age out while still true. Default 5 min. */
  refreshMs?: number;
  /** Figures older than this are dropped when their object is written (the planner ignores them anyway). Default 30 min. */
  maxAgeMs?: number;
}

export const DEFAULT_FIGURE_POLICY: Required<FigureWritePolicy> = { changeFraction: 0.05, refreshMs: 5 * 60_000, maxAgeMs: MEASUREMENT_MAX_AGE_MS };

function worthWriting(prev: { ms: number; observedTime: string } | undefined, ms: number, nowMs: number, p: Required<FigureWritePolicy>): boolean {
  if (!prev) return true;
  if (Math.abs(ms - prev.ms) > Math.max(p.changeFraction * Math.abs(prev.ms), 1e-6)) return true;
  const at = Date.parse(prev.observedTime);
  return !Number.isFinite(at) || nowMs - at >= p.refreshMs;
}

function age(observedTime: string, nowMs: number): number {
  const at = Date.parse(observedTime);
  return Number.isFinite(at) ? nowMs - at : Infinity;
}

export type SegmentKey = Pick<MeasuredSegment, "variant" | "exitAfterLayer" | "fromLayer" | "toLayer">;

function sameSegment(a: SegmentKey, b: SegmentKey): boolean {
  return a.variant === b.variant && a.exitAfterLayer === b.exitAfterLayer && a.fromLayer === b.fromLayer && a.toLayer === b.toLayer;
}

/**
 * A ModelProfile's segments with `reported` merged in: each replaces the stored figure of its key
 * when worth writing; figures past the maximum age are dropped; at most
 * MODEL_PROFILE_MAX_SEGMENTS are kept, the most recently observed. `changed`: whether anything is
 * worth a write. A stored list of another model generation is replaced, not merged.
 */
export function mergeSegments(
  stored: readonly MeasuredSegment[],
  reported: ReadonlyArray<Omit<MeasuredSegment, "observedTime">>,
  now: Date,
  policy: FigureWritePolicy = {},
): { segments: MeasuredSegment[]; changed: boolean } {
  const p = { ...DEFAULT_FIGURE_POLICY, ...policy };
  const nowMs = now.getTime();
  const ts = now.toISOString();
  let changed = false;
  const kept = stored.filter((s) => age(s.observedTime, nowMs) <= p.maxAgeMs);
  if (kept.length !== stored.length) changed = true;
  for (const r of reported) {
    const i = kept.findIndex((s) => sameSegment(s, r));
    const prev = i >= 0 ? kept[i] : undefined;
    if (!worthWriting(prev && { ms: prev.medianMs, observedTime: prev.observedTime }, r.medianMs, nowMs, p)) continue;
    changed = true;
    const next: MeasuredSegment = { ...r, observedTime: ts };
    if (i >= 0) kept[i] = next;
    else kept.push(next);
  }
  if (kept.length > MODEL_PROFILE_MAX_SEGMENTS) {
    kept.sort((a, b) => age(a.observedTime, nowMs) - age(b.observedTime, nowMs));
    kept.length = MODEL_PROFILE_MAX_SEGMENTS;
    changed = true;
  }
  return { segments: kept, changed };
}

/**
 * A service's `status.measured` with one client's figure merged in (the option it names replaced
 * when worth writing); figures past the maximum age, and of clients no longer planned, dropped; at
 * most MEASURED_OPTIONS_PER_CLIENT per client, the most recently observed.
 */
export function mergeClientLatency(
  stored: readonly MeasuredClientLatency[],
  reported: Omit<MeasuredClientLatency, "observedTime">,
  planned: ReadonlySet<string>,
  now: Date,
  policy: FigureWritePolicy = {},
): { measured: MeasuredClientLatency[]; changed: boolean } {
  const p = { ...DEFAULT_FIGURE_POLICY, ...policy };
  const nowMs = now.getTime();
  let changed = false;
  const kept = stored.filter((m) => planned.has(m.client) && age(m.observedTime, nowMs) <= p.maxAgeMs);
  if (kept.length !== stored.length) changed = true;
  const i = kept.findIndex((m) => sameOption(m, reported));
  const prev = i >= 0 ? kept[i] : undefined;
  if (worthWriting(prev && { ms: prev.latencyMs, observedTime: prev.observedTime }, reported.latencyMs, nowMs, p)) {
    changed = true;
    const next: MeasuredClientLatency = { ...reported, observedTime: now.toISOString() };
    if (i >= 0) kept[i] = next;
    else kept.push(next);
  }
  const mine = kept.filter((m) => m.client === reported.client);
  if (mine.length > MEASURED_OPTIONS_PER_CLIENT) {
    const drop = new Set(mine.sort((a, b) => age(a.observedTime, nowMs) - age(b.observedTime, nowMs)).slice(MEASURED_OPTIONS_PER_CLIENT));
    return { measured: kept.filter((m) => !drop.has(m)), changed: true };
  }
  return { measured: kept, changed };
}
