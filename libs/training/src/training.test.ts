import { describe, expect, it } from "vitest";
import {
  BatchSampler,
  chooseTau,
  concat,
  createModel,
  decodeUpdate,
  encodeUpdate,
  estimate,
  fedAvg,
  generateShard,
  generateTestSplit,
  localSgd,
  localSmoothness,
  Rng,
  shardSize,
  SYNTHETIC_CLASSES,
  SYNTHETIC_FEATURES,
  type SyntheticSpec,
} from "./index.js";

const spec: SyntheticSpec = { name: "synthetic", alpha: 0.5, beta: 0.5, seed: "job-uid-1", maxSamples: 400 };
const names = Array.from({ length: 6 }, (_, i) => `dev-${i}`);

describe("Synthetic(α, β)", () => {
  it("gives each participant its own reproducible shard of 60 features and 10 classes, power-law sized", () => {
    const a = generateShard(spec, "dev-0");
    const again = generateShard(spec, "dev-0");
    expect(a.features).toBe(SYNTHETIC_FEATURES);
    expect(a.classes).toBe(SYNTHETIC_CLASSES);
    expect(a.rows).toBe(shardSize(spec, "dev-0"));
    expect(Array.from(again.x.slice(0, 20))).toEqual(Array.from(a.x.slice(0, 20)));
    expect(Array.from(again.y)).toEqual(Array.from(a.y));
    const sizes = Array.from({ length: 40 }, (_, i) => shardSize({ ...spec, maxSamples: 1e9 }, `n-${i}`));
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(50);
    // log-normal(4, 2): a heavy tail, far apart sizes.
    expect(Math.max(...sizes) / Math.min(...sizes)).toBeGreaterThan(10);
    expect(generateShard({ ...spec, seed: "other" }, "dev-0").x[0]).not.toBe(a.x[0]);
  });

  it("non-IID shards differ in their label mix more than IID ones", () => {
    const mix = (s: SyntheticSpec) =>
      names.map((n) => {
        const d = generateShard(s, n);
        const h = new Array(10).fill(0);
        for (const y of d.y) h[y]++;
        return h.map((c) => c / d.rows);
      });
    const spread = (hs: number[][]) => {
      let total = 0;
      for (let k = 0; k < 10; k++) {
        const v = hs.map((h) => h[k]!);
        const m = v.reduce((a, b) => a + b) / v.length;
        total += v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length;
      }
      return total;
    };
    expect(spread(mix(spec))).toBeGreaterThan(spread(mix({ ...spec, name: "synthetic-iid" })));
  });

  it("draws the held-out split from the participants' distributions, apart from their shards", () => {
    const test = generateTestSplit(spec, names);
    expect(test.rows).toBe(names.reduce((s, n) => s + Math.max(20, Math.round(shardSize(spec, n) * 0.2)), 0));
    const train = new Set(names.flatMap((n) => Array.from(generateShard(spec, n).x.filter((_, i) => i % 60 === 0))));
    expect(Array.from(test.x.filter((_, i) => i % 60 === 0)).some((v) => train.has(v))).toBe(false);
  });
});

describe("models and SGD", () => {
  for (const kind of ["logreg", "mlp"] as const) {
    it(`${kind}: its gradient matches finite differences`, () => {
      const m = createModel({ kind, features: 60, classes: 10, hidden: 8 });
      const data = generateShard(spec, "dev-1");
      const w = m.init("seed");
      const r = new Rng(3);
      for (let i = 0; i < w.length; i++) w[i] = w[i]! + r.normal(0, 0.05);
      const rows = [0, 1, 2, 3, 4];
      const grad = new Float64Array(m.size);
      m.lossAndGrad(w, data, rows, grad);
      for (const i of [0, 7, m.size - 1, Math.floor(m.size / 2)]) {
        const h = 1e-5;
        const wp = Float64Array.from(w);
        wp[i] = wp[i]! + h;
        const wm = Float64Array.from(w);
        wm[i] = wm[i]! - h;
        const numeric = (m.lossAndGrad(wp, data, rows) - m.lossAndGrad(wm, data, rows)) / (2 * h);
        expect(grad[i]!).toBeCloseTo(numeric, 5);
      }
    });

    it(`${kind}: mini-batch SGD on a small shard lowers the loss and learns the labels`, async () => {
      const m = createModel({ kind, features: 60, classes: 10, hidden: 16 });
      const data = concat(names.slice(0, 3).map((n) => generateShard({ ...spec, name: "synthetic-iid" }, n)));
      const w0 = m.init("seed");
      const before = m.evaluate(w0, data);
      const { w } = await localSgd(m, w0, data, new BatchSampler(data.rows, new Rng(1)), { steps: 600, learningRate: 0.05, batchSize: 10 });
      const after = m.evaluate(w, data);
      expect(after.loss).toBeLessThan(before.loss * 0.7);
      expect(after.accuracy).toBeGreaterThan(0.6);
      expect(Array.from(w0.slice(0, 5))).toEqual(Array.from(m.init("seed").slice(0, 5))); // the start is left as it was
    });
  }
});

describe("FedAvg", () => {
  it("weights the updates by sample counts", () => {
    const g = Float64Array.from([1, 1]);
    const out = fedAvg(g, [
      { delta: Float64Array.from([1, 0]), samples: 100 },
      { delta: Float64Array.from([-1, 4]), samples: 300 },
    ]);
    // 1 + (100·1 + 300·(−1))/400, 1 + (0 + 300·4)/400
    expect(Array.from(out)).toEqual([0.5, 4]);
    expect(Array.from(g)).toEqual([1, 1]);
    expect(Array.from(fedAvg(g, []))).toEqual([1, 1]);
  });

  it("equals training on the union when each participant takes one full-gradient step", () => {
    const m = createModel({ kind: "logreg", features: 60, classes: 10 });
    const shards = names.slice(0, 3).map((n) => generateShard(spec, n));
    const w = m.init("x");
    const eta = 0.1;
    const updates = shards.map((d) => {
      const grad = new Float64Array(m.size);
      m.lossAndGrad(w, d, undefined, grad);
      return { delta: grad.map((g) => -eta * g), samples: d.rows };
    });
    const averaged = fedAvg(w, updates);
    const grad = new Float64Array(m.size);
    m.lossAndGrad(w, concat(shards), undefined, grad);
    for (let i = 0; i < m.size; i += 37) expect(averaged[i]!).toBeCloseTo(w[i]! - eta * grad[i]!, 10);
  });
});

describe("update compression", () => {
  const rng = new Rng(9);
  const delta = Float64Array.from({ length: 610 }, () => rng.normal(0, 0.1));

  it("dense float32 round-trips", () => {
    const bytes = encodeUpdate(delta, { type: "none" });
    expect(bytes.length).toBe(5 + 4 * 610);
    const back = decodeUpdate(bytes, 610);
    for (let i = 0; i < 610; i++) expect(back[i]!).toBeCloseTo(delta[i]!, 6);
  });

  it("top-k sends the k largest, ≥ 6× fewer bytes at 10%, and keeps the rest as error feedback", () => {
    const residual = new Float64Array(610);
    const bytes = encodeUpdate(delta, { type: "topk", ratio: 0.1 }, residual);
    expect(bytes.length).toBe(5 + 4 + 61 * 6);
    expect((5 + 4 * 610) / bytes.length).toBeGreaterThan(6);
    const back = decodeUpdate(bytes, 610);
    expect(back.filter((v) => v !== 0).length).toBe(61);
    const smallestSent = Math.min(
      ...Array.from(back)
        .filter((v) => v !== 0)
        .map(Math.abs),
    );
    const largestLeft = Math.max(...Array.from(residual).map(Math.abs));
    expect(smallestSent).toBeGreaterThanOrEqual(largestLeft);
    // sent + kept = the update: nothing is lost, only delayed
    for (let i = 0; i < 610; i++) expect(back[i]! + residual[i]!).toBeCloseTo(delta[i]!, 6);
    // next round the residual rides along: a zero update still sends what was left
    const next = decodeUpdate(encodeUpdate(new Float64Array(610), { type: "topk", ratio: 0.1 }, residual), 610);
    expect(next.filter((v) => v !== 0).length).toBe(61);
  });

  it("int8 quantizes within half a step, Rice-coded under a byte a value, with error feedback", () => {
    const residual = new Float64Array(610);
    const bytes = encodeUpdate(delta, { type: "int8" }, residual);
    expect(bytes.length).toBeLessThan(5 + 5 + 610);
    const back = decodeUpdate(bytes, 610);
    const step = Math.max(...Array.from(delta).map(Math.abs)) / 127;
    for (let i = 0; i < 610; i++) {
      expect(Math.abs(back[i]! - delta[i]!)).toBeLessThanOrEqual(step / 2 + 1e-9);
      expect(back[i]! + residual[i]!).toBeCloseTo(delta[i]!, 9);
    }
  });

  it("int8's Rice code is lossless for every 8-bit value and well under a byte a value for a peaked update", () => {
    // Every level −127..127 once, the scale 1: decoded exactly.
    const levels = Float64Array.from({ length: 255 }, (_, i) => i - 127);
    const exact = decodeUpdate(encodeUpdate(levels, { type: "int8" }), 255);
    expect([...exact]).toEqual([...levels]);
    // Mostly small values, a few large ones (as local SGD's updates are): well under a byte each.
    const peaked = Float64Array.from({ length: 610 }, (_, i) => (i % 50 === 0 ? 1 : rng.normal(0, 0.02)));
    const bytes = encodeUpdate(peaked, { type: "int8" });
    expect(bytes.length).toBeLessThan(0.65 * 610);
    expect((5 + 4 * 610) / bytes.length).toBeGreaterThan(6);
    const back = decodeUpdate(bytes, 610);
    for (let i = 0; i < 610; i++) expect(Math.abs(back[i]! - peaked[i]!)).toBeLessThanOrEqual(0.5 / 127 + 1e-7);
    // All zeros: k = 0, a bit a value.
    expect(encodeUpdate(new Float64Array(610), { type: "int8" }).length).toBe(10 + Math.ceil(610 / 8));
  });

  it("refuses hostile int8 codes: truncated, trailing bytes, padding bits set, a value past 8 bits, a bad parameter", () => {
    const good = encodeUpdate(delta, { type: "int8" });
    expect(() => decodeUpdate(good.subarray(0, good.length - 1), 610)).toThrow(/length/);
    expect(() => decodeUpdate(Uint8Array.from([...good, 0]), 610)).toThrow(/length/);
    const zeros = encodeUpdate(new Float64Array(610), { type: "int8" }); // 610 zero bits: 6 bits of padding
    const padded = Uint8Array.from(zeros);
    padded[padded.length - 1] = 0x01;
    expect(() => decodeUpdate(padded, 610)).toThrow(/length/);
    const ones = Uint8Array.from(zeros);
    ones.fill(0xff, 10); // unary runs with no end
    expect(() => decodeUpdate(ones, 610)).toThrow(/8 bits/);
    const k = Uint8Array.from(zeros);
    k[9] = 8;
    expect(() => decodeUpdate(k, 610)).toThrow(/parameter/);
  });

  it("refuses hostile or truncated bodies", () => {
    const good = encodeUpdate(delta, { type: "topk", ratio: 0.1 });
    expect(() => decodeUpdate(good, 611)).toThrow(/values/);
    expect(() => decodeUpdate(good.subarray(0, good.length - 1), 610)).toThrow(/length/);
    expect(() => decodeUpdate(new Uint8Array([9, 0x62, 2, 0, 0]), 610)).toThrow(/encoding/);
    const bad = Uint8Array.from(good);
    new DataView(bad.buffer).setUint16(9, 65_000, true);
    expect(() => decodeUpdate(bad, 610)).toThrow(/out of range/);
    const nan = encodeUpdate(Float64Array.from([NaN]), { type: "none" });
    expect(() => decodeUpdate(nan, 1)).toThrow(/finite/);
  });
});

describe("adaptive τ (Wang et al., JSAC 2019)", () => {
  const control = { learningRate: 0.01, phi: 0.025, growth: 10, maxTau: 100 };

  it("estimates ρ, β from two points and δ from the gradients' spread", () => {
    const s = localSmoothness({ w: Float64Array.from([3, 4]), loss: 2, gradient: Float64Array.from([1, 1]) }, { w: Float64Array.from([0, 0]), loss: 1, gradient: Float64Array.from([1, -2]) });
    expect(s).toEqual({ rho: 1 / 5, beta: 3 / 5 });
    const est = estimate([
      { samples: 1, gradient: Float64Array.from([1, 0]), rho: 1, beta: 2 },
      { samples: 3, gradient: Float64Array.from([-1, 0]), rho: 3, beta: 4 },
    ])!;
    // ∇F = (1·1 + 3·(−1))/4 = −0.5; δ₁ = 1.5, δ₂ = 0.5 → (1.5 + 1.5)/4
    expect(est).toEqual({ rho: 2.5, beta: 3.5, delta: 0.75 });
    expect(estimate([{ samples: 1, gradient: Float64Array.from([1]) }])).toBeUndefined();
  });

  it("picks a larger τ when aggregation is dear and participants agree, τ = 1 when they diverge", () => {
    const costs = { stepSeconds: 0.01, aggregationSeconds: 1, remainingSeconds: 100 };
    const agree = chooseTau(5, { rho: 1, beta: 1, delta: 0.001 }, costs, control);
    const diverge = chooseTau(5, { rho: 50, beta: 50, delta: 50 }, { ...costs, aggregationSeconds: 0.001 }, control);
    expect(agree.stop).toBe(false);
    expect(diverge.stop).toBe(false);
    if (agree.stop || diverge.stop) return;
    expect(agree.tau).toBeGreaterThan(10);
    expect(diverge.tau).toBe(1);
  });

  it("grows τ at most γ-fold a round, keeps it without estimates, and fits it into the budget", () => {
    const est = { rho: 1, beta: 1, delta: 0.001 };
    const dear = { stepSeconds: 0.01, aggregationSeconds: 1, remainingSeconds: 100 };
    expect(chooseTau(2, est, dear, { ...control, growth: 2 })).toMatchObject({ stop: false, tau: 4 });
    expect(chooseTau(7, undefined, dear, control)).toEqual({ stop: false, tau: 7 });
    // 1.5 s left, 1 s an aggregation, 0.1 s a step: at most 5 steps fit
    expect(chooseTau(20, undefined, { stepSeconds: 0.1, aggregationSeconds: 1, remainingSeconds: 1.5 }, control)).toEqual({ stop: false, tau: 5 });
    expect(chooseTau(20, est, { stepSeconds: 0.1, aggregationSeconds: 1, remainingSeconds: 1.05 }, control)).toMatchObject({ stop: true });
  });
});
