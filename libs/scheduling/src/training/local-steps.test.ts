import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { convergenceBound, divergenceBound, optimalLocalSteps, roundsWithin, type LocalStepsParams } from "./local-steps.js";

const p: LocalStepsParams = { learningRate: 0.1, beta: 1, delta: 1, rho: 1, phi: 1, localStepSeconds: 1, aggregationSeconds: 10, budgetSeconds: 111 };

describe("Wang et al. localSteps", () => {
  it("h, T and G by hand", () => {
    // h(2) = (1/1)·(1.1² − 1) − 0.1·1·2 = 0.21 − 0.2 = 0.01; h(1) = 0.1 − 0.1 = 0
    expect(divergenceBound(2, p)).toBeCloseTo(0.01, 12);
    expect(divergenceBound(1, p)).toBeCloseTo(0, 12);
    // T(τ) = (111 − 1 − 10)·τ / (τ + 10)
    expect(roundsWithin(2, p)).toBeCloseTo(200 / 12, 12);
    // G(2) = [1 + √(1 + 4·T²·1·1·0.1·0.01/2)] / (2·T·0.1·1) + 1·0.01
    const t = 200 / 12;
    expect(convergenceBound(2, p)).toBeCloseTo((1 + Math.sqrt(1 + (4 * t * t * 0.1 * 0.01) / 2)) / (2 * t * 0.1) + 0.01, 12);
  });

  it("clamps h at 0 and treats overflow as an infinite bound", () => {
    expect(divergenceBound(1, { ...p, delta: 1, learningRate: 0.001 })).toBe(0);
    expect(convergenceBound(5000, { ...p, learningRate: 10, beta: 10 })).toBe(Infinity);
    expect(convergenceBound(5000, { ...p, learningRate: 10, beta: 10, rho: 0 })).toBeLessThan(Infinity);
  });

  it.each([
    [{ beta: 0 }, "beta must be > 0"],
    [{ learningRate: -1 }, "learningRate must be > 0"],
    [{ phi: 0 }, "phi must be > 0"],
    [{ localStepSeconds: 0, aggregationSeconds: 0 }, "localStepSeconds + aggregationSeconds must be > 0"],
  ])("refuses %o", (bad, message) => {
    const { budgetSeconds, ...e } = { ...p, ...bad };
    const r = optimalLocalSteps(e, budgetSeconds, 100);
    expect(r.status).toBe("invalid");
    if (r.status === "invalid") expect(r.message).toContain(message);
  });

  it("refuses a budget not above c + b, and missing estimates", () => {
    const { budgetSeconds: _b, ...e } = p;
    expect(optimalLocalSteps(e, 11, 100)).toEqual({ status: "invalid", message: "localSteps auto: budget 11 s must exceed localStepSeconds + aggregationSeconds (11 s)" });
    expect(optimalLocalSteps({ learningRate: 0.1 }, undefined, 100)).toMatchObject({ status: "invalid", message: expect.stringContaining("aggregation.estimates.beta") });
    expect(optimalLocalSteps(e, undefined, 100)).toMatchObject({ message: expect.stringContaining("aggregation.budget.seconds") });
  });

  it("breaks ties towards the smaller τ", () => {
    // δ = 0 makes h ≡ 0 and b = 0 makes T constant: G is the same for every τ
    const flat = { ...p, delta: 0, aggregationSeconds: 0 };
    const { budgetSeconds, ...e } = flat;
    expect(optimalLocalSteps(e, budgetSeconds, 100)).toMatchObject({ status: "ok", localSteps: 1 });
  });

  /** G written straight from the formula with Math.pow, independently of the implementation. */
  function naiveG(tau: number, q: LocalStepsParams): number {
    const { learningRate: eta, beta, delta, rho, phi, localStepSeconds: c, aggregationSeconds: b, budgetSeconds: r } = q;
    const h = Math.max(0, (delta / beta) * (Math.pow(eta * beta + 1, tau) - 1) - eta * delta * tau);
    const t = ((r - c - b) * tau) / (c * tau + b);
    return (1 + Math.sqrt(1 + (4 * t * t * phi * rho * eta * h) / tau)) / (2 * t * eta * phi) + rho * h;
  }

  it("τ* is the argmin of G over 1..maxLocalSteps (property, against a naive G)", () => {
    const params = fc.record({
      learningRate: fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
      beta: fc.double({ min: 1e-3, max: 5, noNaN: true }),
      delta: fc.double({ min: 0, max: 5, noNaN: true }),
      rho: fc.double({ min: 0, max: 5, noNaN: true }),
      phi: fc.double({ min: 1e-3, max: 2, noNaN: true }),
      localStepSeconds: fc.double({ min: 0.01, max: 10, noNaN: true }),
      aggregationSeconds: fc.double({ min: 0.01, max: 100, noNaN: true }),
      extra: fc.double({ min: 1, max: 10_000, noNaN: true }),
      maxLocalSteps: fc.integer({ min: 1, max: 60 }),
    });
    fc.assert(
      fc.property(params, ({ extra, maxLocalSteps, ...e }) => {
        const q: LocalStepsParams = { ...e, budgetSeconds: e.localStepSeconds + e.aggregationSeconds + extra };
        const r = optimalLocalSteps(e, q.budgetSeconds, maxLocalSteps);
        if (r.status !== "ok") throw new Error(r.message);
        const values = Array.from({ length: maxLocalSteps }, (_, i) => convergenceBound(i + 1, q));
        const min = Math.min(...values);
        expect(r.bound).toBe(min);
        expect(values.indexOf(min) + 1).toBe(r.localSteps);
        const naive = Array.from({ length: maxLocalSteps }, (_, i) => naiveG(i + 1, q)).filter(Number.isFinite);
        if (naive.length === maxLocalSteps) expect(r.bound).toBeLessThanOrEqual(Math.min(...naive) * (1 + 1e-9) + 1e-12);
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
