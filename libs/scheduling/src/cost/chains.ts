import { ELEMENT_CLASSES, OPERATOR_CLASSES, type EarlyExit, type ElementOps, type FlopsByOperator, type LayerProfile, type ModelLayer, type ModelSpec } from "@eiaas/api";
import type { SnapshotNode } from "../snapshot/types.js";
import { applySegments, type NodeMeasurements } from "./measurements.js";

/** Per-layer sums for one chain on one hardware class, indexed by split j = 0..N. */
export interface ChainTiming {
  /** Σ_{i≤j} T(i) in ms. */
  readonly prefixT: Float64Array;
  /** Σ_{i>j} T(i) in ms. */
  readonly suffixT: Float64Array;
  /** Σ_{i≤j} T(i)·P(i) in mJ. */
  readonly prefixE: Float64Array;
}

interface MeasuredLayers {
  latency: ReadonlyArray<number | undefined>;
  power: ReadonlyArray<number | undefined>;
}

/**
 * A chain (design.md §5): the base layers up to an exit plus the exit's head as one more layer, or all
 * layers of the model or of a variant. Layers are 1-based in the API and 0-based in these arrays.
 */
export class Chain {
  /** N. */
  readonly length: number;
  readonly flops: Float64Array;
  /** Per class of OPERATOR_CLASSES (same order), the part of `flops` in that class. */
  readonly operatorFlops: readonly Float64Array[];
  /** Per class of ELEMENT_CLASSES (same order), the layer's operations outside `flops` (`elementOps`). */
  readonly elementOps: readonly Float64Array[];
  readonly memoryMiB: Float64Array;
  /** D_j for j = 0..N: D_0 = inputBytes, D_j = outputBytes of chain layer j. */
  readonly splitBytes: Float64Array;
  /** Σ_{i≤j} memoryMiB, j = 0..N. */
  readonly memPrefix: Float64Array;
  /** Σ_{i>j} memoryMiB, j = 0..N. */
  readonly memSuffix: Float64Array;
  private readonly measured = new Map<string, MeasuredLayers>();
  private readonly timings = new Map<string, ChainTiming>();
  /** Timings on nodes with measured figures, per figures object (a node's own: not shared by cost class). */
  private readonly measuredTimings = new WeakMap<NodeMeasurements, ChainTiming>();

  constructor(
    /** Position in `CompiledModel.chains`. */
    readonly index: number,
    /** "base" or the variant's name. */
    readonly variant: string,
    /** Base layers run (of the model or the variant); the full layer count when there is no exit. */
    readonly exitAfterLayer: number,
    readonly accuracy: number,
    readonly inputBytes: number,
    readonly layers: readonly ModelLayer[],
    profiles: readonly LayerProfile[],
    exit: EarlyExit | undefined,
  ) {
    const base = layers.slice(0, exitAfterLayer);
    const n = base.length + (exit ? 1 : 0);
    this.length = n;
    this.flops = new Float64Array(n);
    this.operatorFlops = OPERATOR_CLASSES.map(() => new Float64Array(n));
    this.memoryMiB = new Float64Array(n);
    this.elementOps = ELEMENT_CLASSES.map(() => new Float64Array(n));
    const byOperator = (i: number, f: FlopsByOperator | undefined, e: ElementOps | undefined) => {
      OPERATOR_CLASSES.forEach((c, k) => (this.operatorFlops[k]![i] = f?.[c] ?? 0));
      ELEMENT_CLASSES.forEach((c, k) => (this.elementOps[k]![i] = e?.[c] ?? 0));
    };
    this.splitBytes = new Float64Array(n + 1);
    this.splitBytes[0] = inputBytes;
    base.forEach((l, i) => {
      this.flops[i] = l.flops;
      byOperator(i, l.flopsByOperator, l.elementOps);
      this.memoryMiB[i] = l.memoryMiB;
      this.splitBytes[i + 1] = l.outputBytes;
    });
    if (exit) {
      this.flops[n - 1] = exit.head.flops;
      byOperator(n - 1, exit.head.flopsByOperator, exit.head.elementOps);
      this.memoryMiB[n - 1] = exit.head.memoryMiB;
      this.splitBytes[n] = exit.head.outputBytes;
    }
    this.memPrefix = new Float64Array(n + 1);
    this.memSuffix = new Float64Array(n + 1);
    for (let j = 1; j <= n; j++) this.memPrefix[j] = this.memPrefix[j - 1]! + this.memoryMiB[j - 1]!;
    for (let j = n - 1; j >= 0; j--) this.memSuffix[j] = this.memoryMiB[j]! + this.memSuffix[j + 1]!;
    const hardware = new Set<string>([...profiles.map((p) => p.hardware), ...(exit?.head.profiles ?? []).map((p) => p.hardware)]);
    for (const h of hardware) {
      const p = profiles.find((x) => x.hardware === h);
      const hp = exit?.head.profiles.find((x) => x.hardware === h);
      const latency: (number | undefined)[] = [];
      const power: (number | undefined)[] = [];
      for (let i = 0; i < base.length; i++) {
        latency.push(p?.layerLatencyMs[i]);
        power.push(p?.layerPowerW?.[i]);
      }
      if (exit) {
        latency.push(hp?.latencyMs);
        power.push(hp?.powerW);
      }
      this.measured.set(h, { latency, power });
    }
  }

  /** Σ memoryMiB of chain layers from..to (1-based, inclusive). */
  memoryOf(from: number, to: number): number {
    let m = 0;
    for (let i = from; i <= to; i++) m += this.memoryMiB[i - 1]!;
    return m;
  }

  /**
   * Per-layer time T and power P on a node, summed by split: T from what serving tasks measured on
   * this very node (`measured`, see `applySegments`), else the model's profile for the node's
   * hardware class, else the flops estimate ({@link Chain.estimateMs}); P from the profile's power, else the node's
   * power.computeW (design.md §5). Cached per node cost class, or per figures object when measured.
   */
  timing(node: SnapshotNode, measured?: NodeMeasurements): ChainTiming {
    let t = measured ? this.measuredTimings.get(measured) : this.timings.get(node.costKey);
    if (t) return t;
    t = this.computeTiming(node, measured);
    if (measured) this.measuredTimings.set(measured, t);
    else this.timings.set(node.costKey, t);
    return t;
  }

  /**
   * Layer `i`'s time from its flops: each operator class's part at the node's speed for that class
   * where the node states one (`compute.gflopsByOperator`), the rest at `compute.gflops`; plus
   * the operations `flops` does not count (`elementOps`: LRN) at the node's speed for their class,
   * or at `compute.gflops` where it states none (where they are as cheap as the flops say).
   */
  estimateMs(i: number, node: SnapshotNode): number {
    let rest = this.flops[i]!;
    let ms = 0;
    for (let k = 0; k < ELEMENT_CLASSES.length; k++) {
      const ops = this.elementOps[k]![i]!;
      if (ops > 0) ms += computeMs(ops, node.gflopsByOperator[ELEMENT_CLASSES[k]!] ?? node.gflops);
    }
    for (let k = 0; k < OPERATOR_CLASSES.length; k++) {
      const f = this.operatorFlops[k]![i]!;
      const speed = f > 0 ? node.gflopsByOperator[OPERATOR_CLASSES[k]!] : undefined;
      if (speed === undefined) continue;
      ms += f / (speed * 1e6);
      rest -= f;
    }
    return ms + computeMs(Math.max(0, rest), node.gflops);
  }

  private computeTiming(node: SnapshotNode, measured: NodeMeasurements | undefined): ChainTiming {
    const n = this.length;
    const m = this.measured.get(node.hardware);
    const T = new Float64Array(n);
    const E = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const profiled = m?.latency[i];
      const ti = profiled ?? this.estimateMs(i, node);
      const pi = m?.power[i] ?? node.power.computeW;
      T[i] = ti;
      E[i] = pi;
    }
    if (measured) applySegments(this, T, measured.segments);
    for (let i = 0; i < n; i++) E[i] = T[i] === 0 ? 0 : T[i]! * E[i]!;
    const prefixT = new Float64Array(n + 1);
    const prefixE = new Float64Array(n + 1);
    const suffixT = new Float64Array(n + 1);
    for (let j = 1; j <= n; j++) {
      prefixT[j] = prefixT[j - 1]! + T[j - 1]!;
      prefixE[j] = prefixE[j - 1]! + E[j - 1]!;
    }
    for (let j = n - 1; j >= 0; j--) suffixT[j] = T[j]! + suffixT[j + 1]!;
    return { prefixT, suffixT, prefixE };
  }
}

/** flops / (gflops · 10^6) ms; no work takes no time, work on a node without compute never ends. */
export function computeMs(flops: number, gflops: number): number {
  if (flops === 0) return 0;
  return gflops > 0 ? flops / (gflops * 1e6) : Infinity;
}

/** Every chain of a model, and its size. */
export interface CompiledModel {
  /** Full model, its exits (by afterLayer), then per variant: full, exits. */
  readonly chains: readonly Chain[];
  /** Σ layers' memoryMiB · 2^20 (the base model). */
  readonly sizeBytes: number;
}

const compiled = new WeakMap<object, CompiledModel>();

/**
 * Builds (once per spec object: specs are treated as immutable) the chains of a model with their
 * split arrays; per-hardware timings are added lazily and cached on the chains.
 */
export function compileModel(spec: ModelSpec): CompiledModel {
  const hit = compiled.get(spec);
  if (hit) return hit;
  const chains: Chain[] = [];
  const add = (variant: string, accuracy: number, inputBytes: number, layers: readonly ModelLayer[], profiles: readonly LayerProfile[], exits: readonly EarlyExit[]) => {
    chains.push(new Chain(chains.length, variant, layers.length, accuracy, inputBytes, layers, profiles, undefined));
    for (const e of [...exits].sort((a, b) => a.afterLayer - b.afterLayer)) {
      if (e.afterLayer < 1 || e.afterLayer >= layers.length) continue;
      chains.push(new Chain(chains.length, variant, e.afterLayer, e.accuracy, inputBytes, layers, profiles, e));
    }
  };
  add("base", spec.accuracy, spec.inputBytes, spec.layers, spec.profiles ?? [], spec.exits ?? []);
  for (const v of spec.variants ?? []) {
    add(v.name, v.accuracy, v.inputBytes ?? spec.inputBytes, v.layers, v.profiles ?? [], v.exits ?? []);
  }
  const model: CompiledModel = { chains, sizeBytes: spec.layers.reduce((s, l) => s + l.memoryMiB, 0) * 2 ** 20 };
  compiled.set(spec, model);
  return model;
}
