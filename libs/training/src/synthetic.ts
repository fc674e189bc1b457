import { deriveSeed, Rng } from "./rng.js";

/** FedProx's Synthetic data (Li et al., MLSys 2020): 60 features, 10 classes. */
export const SYNTHETIC_FEATURES = 60;
export const SYNTHETIC_CLASSES = 10;

/** Which data set a job trains on, and how it is split among participants. */
export interface SyntheticSpec {
  /** `synthetic`: non-IID Synthetic(α, β); `synthetic-iid`: one shared labelling, x ~ N(0, Σ). */
  name: "synthetic" | "synthetic-iid";
  /** α: how much the participants' labelling models differ. */
  alpha: number;
  /** β: how much the participants' feature distributions differ. */
  beta: number;
  /** The job's seed: every shard and the held-out split follow from it and a participant's name. */
  seed: string;
  /** Largest shard (the log-normal tail is cut here). @defaultValue 2000 */
  maxSamples?: number;
  /** Held-out samples per participant's distribution, as a fraction of its shard. @defaultValue 0.2 */
  testFraction?: number;
}

/** Samples of one shard, row-major: `x[i * features + j]`. */
export interface Dataset {
  x: Float64Array;
  y: Uint8Array;
  rows: number;
  features: number;
  classes: number;
}

/** What makes one participant's distribution: its labelling model (W, b) and its feature mean v. */
interface Distribution {
  w: Float64Array; // classes × features
  b: Float64Array;
  mean: Float64Array;
}

const SD_X = Float64Array.from({ length: SYNTHETIC_FEATURES }, (_, j) => Math.sqrt(Math.pow(j + 1, -1.2)));

/**
 * A participant's shard size: FedProx's power law, ⌊lognormal(4, 2)⌋ + 50, cut at `maxSamples`,
 * drawn from the participant's own seed (so no node needs another's to know its own).
 */
export function shardSize(spec: SyntheticSpec, participant: string): number {
  const rng = new Rng(deriveSeed(spec.seed, participant, "size"));
  const n = Math.floor(Math.exp(4 + 2 * rng.normal())) + 50;
  return Math.min(n, spec.maxSamples ?? 2000);
}

function distribution(spec: SyntheticSpec, participant: string): Distribution {
  const f = SYNTHETIC_FEATURES;
  const c = SYNTHETIC_CLASSES;
  const iid = spec.name === "synthetic-iid";
  // IID: every participant labels with the same model and draws x around 0.
  const rng = new Rng(iid ? deriveSeed(spec.seed, "global") : deriveSeed(spec.seed, participant, "distribution"));
  const u = iid ? 0 : rng.normal(0, spec.alpha);
  const bigB = iid ? 0 : rng.normal(0, spec.beta);
  const mean = new Float64Array(f);
  if (!iid) for (let j = 0; j < f; j++) mean[j] = rng.normal(bigB, 1);
  const w = new Float64Array(c * f);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal(u, 1);
  const b = new Float64Array(c);
  for (let i = 0; i < c; i++) b[i] = rng.normal(u, 1);
  return { w, b, mean };
}

function draw(d: Distribution, rows: number, rng: Rng): Dataset {
  const f = SYNTHETIC_FEATURES;
  const c = SYNTHETIC_CLASSES;
  const x = new Float64Array(rows * f);
  const y = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * f;
    for (let j = 0; j < f; j++) x[o + j] = d.mean[j]! + SD_X[j]! * rng.normal();
    // argmax of softmax(Wx + b) is the argmax of Wx + b.
    let best = 0;
    let bestScore = -Infinity;
    for (let k = 0; k < c; k++) {
      let s = d.b[k]!;
      const wo = k * f;
      for (let j = 0; j < f; j++) s += d.w[wo + j]! * x[o + j]!;
      if (s > bestScore) {
        bestScore = s;
        best = k;
      }
    }
    y[r] = best;
  }
  return { x, y, rows, features: f, classes: c };
}

/**
 * The training shard of `participant` (a node name): generated where it is used, from the job's
 * seed and the name alone. u ~ N(0, α) and B ~ N(0, β) take α and β as standard deviations, as
 * FedProx's generator does (its paper's notation reads as variances).
 */
export function generateShard(spec: SyntheticSpec, participant: string): Dataset {
  return draw(distribution(spec, participant), shardSize(spec, participant), new Rng(deriveSeed(spec.seed, participant, "train")));
}

/**
 * The job's held-out split: for each participant's distribution, fresh samples (a stream no shard
 * uses) numbering `testFraction` of its shard (at least 20). The aggregator generates it itself:
 * no participant sends a sample for it.
 */
export function generateTestSplit(spec: SyntheticSpec, participants: readonly string[]): Dataset {
  const parts = participants.map((p) => {
    const rows = Math.max(20, Math.round(shardSize(spec, p) * (spec.testFraction ?? 0.2)));
    return draw(distribution(spec, p), rows, new Rng(deriveSeed(spec.seed, p, "test")));
  });
  return concat(parts);
}

/** Several data sets as one (the centralized baseline trains on every shard together). */
export function concat(parts: readonly Dataset[]): Dataset {
  const rows = parts.reduce((s, p) => s + p.rows, 0);
  const x = new Float64Array(rows * SYNTHETIC_FEATURES);
  const y = new Uint8Array(rows);
  let r = 0;
  for (const p of parts) {
    x.set(p.x, r * SYNTHETIC_FEATURES);
    y.set(p.y, r);
    r += p.rows;
  }
  return { x, y, rows, features: SYNTHETIC_FEATURES, classes: SYNTHETIC_CLASSES };
}
