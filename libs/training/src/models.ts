import { Rng } from "./rng.js";
import type { Dataset } from "./synthetic.js";

export type ModelKind = "logreg" | "mlp";

/** Which model a job trains. */
export interface ModelSpec {
  kind: ModelKind;
  features: number;
  classes: number;
  /** Hidden units of the MLP. @defaultValue 32 */
  hidden?: number;
}

/**
 * A model as a flat parameter vector and the functions over it. Flat vectors are what FedAvg
 * averages, compression encodes and the wire carries, so there is no per-layer structure outside.
 */
export interface Model {
  readonly spec: ModelSpec;
  /** Number of parameters. */
  readonly size: number;
  /** Initial parameters, the same for the same seed. */
  init(seed: number | string): Float64Array;
  /**
   * Mean cross-entropy over `rows` of `data` (all rows when absent); when `grad` is given, it is
   * overwritten with the mean gradient.
   */
  lossAndGrad(w: Float64Array, data: Dataset, rows?: ArrayLike<number>, grad?: Float64Array): number;
  /** Mean loss and accuracy over every row. */
  evaluate(w: Float64Array, data: Dataset): { loss: number; accuracy: number };
}

export function createModel(spec: ModelSpec): Model {
  return spec.kind === "mlp" ? new Mlp(spec) : new LogisticRegression(spec);
}

/** softmax(z) in place; returns −log p[label] (with p floored so a confident mistake stays finite). */
function softmaxXent(z: Float64Array, label: number): number {
  let max = -Infinity;
  for (let k = 0; k < z.length; k++) if (z[k]! > max) max = z[k]!;
  let sum = 0;
  for (let k = 0; k < z.length; k++) {
    const e = Math.exp(z[k]! - max);
    z[k] = e;
    sum += e;
  }
  for (let k = 0; k < z.length; k++) z[k] = z[k]! / sum;
  return -Math.log(Math.max(z[label]!, 1e-12));
}

function argmax(z: Float64Array): number {
  let best = 0;
  for (let k = 1; k < z.length; k++) if (z[k]! > z[best]!) best = k;
  return best;
}

abstract class Base implements Model {
  abstract readonly size: number;
  constructor(readonly spec: ModelSpec) {}
  abstract init(seed: number | string): Float64Array;
  /** Logits of row r into `z`; keeps what backward needs in the model's scratch. */
  protected abstract forward(w: Float64Array, data: Dataset, r: number, z: Float64Array): void;
  /** Adds the gradient of the row last passed to forward, given dL/dz in `dz`, scaled by `scale`. */
  protected abstract backward(w: Float64Array, data: Dataset, r: number, dz: Float64Array, grad: Float64Array, scale: number): void;

  lossAndGrad(w: Float64Array, data: Dataset, rows?: ArrayLike<number>, grad?: Float64Array): number {
    const n = rows ? rows.length : data.rows;
    const z = new Float64Array(this.spec.classes);
    if (grad) grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const r = rows ? rows[i]! : i;
      this.forward(w, data, r, z);
      const label = data.y[r]!;
      loss += softmaxXent(z, label);
      if (grad) {
        z[label] = z[label]! - 1; // dL/dz = p − onehot
        this.backward(w, data, r, z, grad, 1 / n);
      }
    }
    return n > 0 ? loss / n : 0;
  }

  evaluate(w: Float64Array, data: Dataset): { loss: number; accuracy: number } {
    const z = new Float64Array(this.spec.classes);
    let loss = 0;
    let right = 0;
    for (let r = 0; r < data.rows; r++) {
      this.forward(w, data, r, z);
      const label = data.y[r]!;
      if (argmax(z) === label) right++;
      loss += softmaxXent(z, label);
    }
    return data.rows > 0 ? { loss: loss / data.rows, accuracy: right / data.rows } : { loss: 0, accuracy: 0 };
  }
}

/** Multinomial logistic regression: z = W x + b, parameters [W (classes × features), b]. */
class LogisticRegression extends Base {
  readonly size: number;
  constructor(spec: ModelSpec) {
    super(spec);
    this.size = spec.classes * spec.features + spec.classes;
  }

  init(): Float64Array {
    return new Float64Array(this.size); // the convex problem starts at 0, as FedProx's
  }

  protected forward(w: Float64Array, data: Dataset, r: number, z: Float64Array): void {
    const f = this.spec.features;
    const bo = this.spec.classes * f;
    const xo = r * f;
    for (let k = 0; k < z.length; k++) {
      let s = w[bo + k]!;
      const wo = k * f;
      for (let j = 0; j < f; j++) s += w[wo + j]! * data.x[xo + j]!;
      z[k] = s;
    }
  }

  protected backward(_w: Float64Array, data: Dataset, r: number, dz: Float64Array, grad: Float64Array, scale: number): void {
    const f = this.spec.features;
    const bo = this.spec.classes * f;
    const xo = r * f;
    for (let k = 0; k < dz.length; k++) {
      const g = dz[k]! * scale;
      if (g === 0) continue;
      const wo = k * f;
      for (let j = 0; j < f; j++) grad[wo + j] = grad[wo + j]! + g * data.x[xo + j]!;
      grad[bo + k] = grad[bo + k]! + g;
    }
  }
}

/** Two layers: z = W2 relu(W1 x + b1) + b2, parameters [W1 (hidden × features), b1, W2 (classes × hidden), b2]. */
class Mlp extends Base {
  readonly size: number;
  private readonly h: number;
  private readonly act: Float64Array;
  private readonly dAct: Float64Array;
  private readonly o: { b1: number; w2: number; b2: number };

  constructor(spec: ModelSpec) {
    super(spec);
    this.h = spec.hidden ?? 32;
    const f = spec.features;
    const c = spec.classes;
    this.o = { b1: this.h * f, w2: this.h * f + this.h, b2: this.h * f + this.h + c * this.h };
    this.size = this.o.b2 + c;
    this.act = new Float64Array(this.h);
    this.dAct = new Float64Array(this.h);
  }

  init(seed: number | string): Float64Array {
    const rng = new Rng(seed);
    const w = new Float64Array(this.size);
    const f = this.spec.features;
    const he = Math.sqrt(2 / f);
    for (let i = 0; i < this.o.b1; i++) w[i] = rng.normal(0, he);
    const xavier = Math.sqrt(1 / this.h);
    for (let i = this.o.w2; i < this.o.b2; i++) w[i] = rng.normal(0, xavier);
    return w;
  }

  protected forward(w: Float64Array, data: Dataset, r: number, z: Float64Array): void {
    const f = this.spec.features;
    const xo = r * f;
    for (let u = 0; u < this.h; u++) {
      let s = w[this.o.b1 + u]!;
      const wo = u * f;
      for (let j = 0; j < f; j++) s += w[wo + j]! * data.x[xo + j]!;
      this.act[u] = s > 0 ? s : 0;
    }
    for (let k = 0; k < z.length; k++) {
      let s = w[this.o.b2 + k]!;
      const wo = this.o.w2 + k * this.h;
      for (let u = 0; u < this.h; u++) s += w[wo + u]! * this.act[u]!;
      z[k] = s;
    }
  }

  protected backward(w: Float64Array, data: Dataset, r: number, dz: Float64Array, grad: Float64Array, scale: number): void {
    const f = this.spec.features;
    const xo = r * f;
    this.dAct.fill(0);
    for (let k = 0; k < dz.length; k++) {
      const g = dz[k]! * scale;
      const wo = this.o.w2 + k * this.h;
      for (let u = 0; u < this.h; u++) {
        grad[wo + u] = grad[wo + u]! + g * this.act[u]!;
        this.dAct[u] = this.dAct[u]! + g * w[wo + u]!;
      }
      grad[this.o.b2 + k] = grad[this.o.b2 + k]! + g;
    }
    for (let u = 0; u < this.h; u++) {
      if (this.act[u]! <= 0) continue;
      const g = this.dAct[u]!;
      const wo = u * f;
      for (let j = 0; j < f; j++) grad[wo + j] = grad[wo + j]! + g * data.x[xo + j]!;
      grad[this.o.b1 + u] = grad[this.o.b1 + u]! + g;
    }
  }
}
