/**
 * Measured per-segment timings (Neurosurgeon's profiling, issue 20 part 7): what serving tasks
 * measured for layer ranges of a model on a node, as the planner reads them. They enter through the
 * snapshot (`Snapshot.setMeasurements`), already filtered by {@link indexMeasurements} — this
 * package has no clock, so "stale" is decided against a `nowMs` its caller passes.
 */

/** One measured layer range of one chain (chain coordinates: 1-based, inclusive). */
export interface SegmentFigure {
  readonly variant: string;
  /** The chain's exit (the model's or variant's layer count when the chain has none). */
  readonly exitAfterLayer: number;
  readonly fromLayer: number;
  readonly toLayer: number;
  readonly medianMs: number;
  readonly count: number;
}

/**
 * The usable figures of one model on one node. Its identity is what chains cache their timing
 * under: a new object (new figures) is a new timing, and the old one is garbage with it.
 */
export interface NodeMeasurements {
  readonly segments: readonly SegmentFigure[];
}

/** The measured figures of one model, by node name. */
export type ModelMeasurements = ReadonlyMap<string, NodeMeasurements>;

/** A ModelProfile object, as far as the index reads it. */
export interface ModelProfileLike {
  metadata: { namespace?: string };
  spec: { model: string; nodeName: string };
  status?: {
    modelGeneration?: number;
    segments?: ReadonlyArray<SegmentFigure & { observedTime?: string }>;
  } | null;
}

export interface IndexMeasurementsOptions {
  /** Now, in ms since the epoch (the caller's clock). */
  nowMs: number;
  /** Figures observed longer ago than this are ignored (a node's speed drifts: load, thermal, upgrades). */
  maxAgeMs: number;
  /** Figures over fewer requests are ignored (a median of one or two is noise). Default 3. */
  minCount?: number;
  /**
   * The current `metadata.generation` of a model, undefined when it does not exist: figures
   * measured for another generation (another layer table) are ignored.
   */
  modelGeneration(namespace: string, model: string): number | undefined;
}

/**
 * Indexes ModelProfiles by `namespace/model`, then node name, keeping the figures that are recent
 * enough, over enough requests, of the model's current generation, and well formed (a range inside
 * the chain's layers: an exit head is layer `exitAfterLayer + 1`). O(figures).
 */
export function indexMeasurements(profiles: Iterable<ModelProfileLike>, o: IndexMeasurementsOptions): Map<string, Map<string, NodeMeasurements>> {
  const out = new Map<string, Map<string, NodeMeasurements>>();
  const minCount = o.minCount ?? 3;
  for (const p of profiles) {
    const namespace = p.metadata.namespace ?? "";
    const generation = o.modelGeneration(namespace, p.spec.model);
    if (generation === undefined || p.status?.modelGeneration !== generation) continue;
    const segments: SegmentFigure[] = [];
    for (const s of p.status?.segments ?? []) {
      const at = Date.parse(s.observedTime ?? "");
      if (!Number.isFinite(at) || o.nowMs - at > o.maxAgeMs) continue;
      if (!(s.count >= minCount) || !Number.isFinite(s.medianMs) || s.medianMs < 0) continue;
      if (!(s.fromLayer >= 1 && s.fromLayer <= s.toLayer && s.toLayer <= s.exitAfterLayer + 1)) continue;
      segments.push({ variant: s.variant, exitAfterLayer: s.exitAfterLayer, fromLayer: s.fromLayer, toLayer: s.toLayer, medianMs: s.medianMs, count: s.count });
    }
    if (segments.length === 0) continue;
    const key = `${namespace}/${p.spec.model}`;
    let byNode = out.get(key);
    if (!byNode) out.set(key, (byNode = new Map()));
    byNode.set(p.spec.nodeName, { segments });
  }
  return out;
}

/** What {@link applySegments} needs of a chain. */
export interface ChainShape {
  readonly variant: string;
  readonly exitAfterLayer: number;
  /** Layers of the chain: its base layers, plus the exit head when it has one. */
  readonly length: number;
  readonly flops: Float64Array;
}

/**
 * Whether a figure measured on `s`'s chain tells about layers of `chain`: the same variant, and
 * either the same chain (same exit) or a range of base layers only, which every chain of the
 * variant shares (layers 1..exitAfterLayer of a chain with an exit are the model's first layers).
 */
function appliesTo(s: SegmentFigure, chain: ChainShape): boolean {
  if (s.variant !== chain.variant || s.toLayer > chain.length) return false;
  if (s.exitAfterLayer === chain.exitAfterLayer) return true;
  return s.toLayer <= s.exitAfterLayer && s.toLayer <= chain.exitAfterLayer;
}

/**
 * Replaces the estimated per-layer times `T` (0-based; from the hardware class's profile, else
 * flops / gflops) of the layers a measurement covers. The rule (docs/dataplane.md, "Measurements fed back into planning"):
 * - the most specific figure first: shorter ranges before longer ones, then more requests;
 * - a figure's time is spread over the layers of its range no shorter figure set yet, in
 *   proportion to their estimate (so within a measured range the layers keep the estimate's
 *   shape, and they sum to the measured time); by flops when the estimate gives no proportion (a
 *   node without compute: infinite; no work: zero), evenly when the layers have no flops either;
 * - what shorter figures already set inside the range is taken off first (never below zero);
 * - layers no figure covers keep their estimate.
 * Figures of layers outside the chain or of another chain are left out. O(figures · layers) once
 * per (chain, figures), which the chain caches.
 */
export function applySegments(chain: ChainShape, T: Float64Array, segments: readonly SegmentFigure[]): void {
  const usable = segments.filter((s) => appliesTo(s, chain));
  if (usable.length === 0) return;
  usable.sort((a, b) => a.toLayer - a.fromLayer - (b.toLayer - b.fromLayer) || b.count - a.count || a.fromLayer - b.fromLayer);
  const set = new Uint8Array(chain.length);
  for (const s of usable) {
    let already = 0;
    let estimate = 0;
    let flops = 0;
    let open = 0;
    for (let i = s.fromLayer - 1; i < s.toLayer; i++) {
      if (set[i]) already += T[i]!;
      else {
        estimate += T[i]!;
        flops += chain.flops[i]!;
        open++;
      }
    }
    if (open === 0) continue;
    const remaining = Math.max(0, s.medianMs - already);
    const byEstimate = estimate > 0 && Number.isFinite(estimate);
    for (let i = s.fromLayer - 1; i < s.toLayer; i++) {
      if (set[i]) continue;
      T[i] = byEstimate ? (remaining * T[i]!) / estimate : flops > 0 ? (remaining * chain.flops[i]!) / flops : remaining / open;
      set[i] = 1;
    }
  }
}
