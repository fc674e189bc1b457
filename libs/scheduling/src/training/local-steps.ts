import type { AggregationEstimates } from "@eiaas/api";

/** The quantities of Wang et al. (JSAC 2019) with design.md §5's names. */
export interface LocalStepsParams {
  /** η */
  learningRate: number;
  /** β */
  beta: number;
  /** δ */
  delta: number;
  /** ρ */
  rho: number;
  /** φ */
  phi: number;
  /** c: seconds per local step. */
  localStepSeconds: number;
  /** b: seconds per aggregation. */
  aggregationSeconds: number;
  /** R: total budget in seconds. */
  budgetSeconds: number;
}

/**
 * h(τ) = (δ/β)·((ηβ+1)^τ − 1) − ηδτ, with (ηβ+1)^τ − 1 computed as expm1(τ·log1p(ηβ)) so small
 * ηβ keeps its precision, clamped at 0.
 */
export function divergenceBound(tau: number, p: LocalStepsParams): number {
  const { learningRate: eta, beta, delta } = p;
  if (delta === 0) return 0;
  const h = (delta / beta) * Math.expm1(tau * Math.log1p(eta * beta)) - eta * delta * tau;
  return h > 0 ? h : 0;
}

/** T(τ) = (R − c − b)·τ / (cτ + b): aggregation rounds the budget allows, as a real number. */
export function roundsWithin(tau: number, p: LocalStepsParams): number {
  const { localStepSeconds: c, aggregationSeconds: b, budgetSeconds: r } = p;
  return ((r - c - b) * tau) / (c * tau + b);
}

/**
 * G(τ) = [1 + √(1 + 4T²φρη·h(τ)/τ)] / (2Tηφ) + ρ·h(τ), the convergence bound minimised over τ.
 * Terms with ρ = 0 are taken as 0 even when h overflows, and an overflowed bound counts as
 * Infinity, so the argmin stays well defined.
 */
export function convergenceBound(tau: number, p: LocalStepsParams): number {
  const { learningRate: eta, rho, phi } = p;
  const h = divergenceBound(tau, p);
  const t = roundsWithin(tau, p);
  const inner = rho === 0 || h === 0 ? 0 : (4 * t * t * phi * rho * eta * h) / tau;
  const g = (1 + Math.sqrt(1 + inner)) / (2 * t * eta * phi) + (rho === 0 || h === 0 ? 0 : rho * h);
  return Number.isNaN(g) ? Infinity : g;
}

export type LocalStepsResult = { status: "ok"; localSteps: number; bound: number; rounds: number } | { status: "invalid"; message: string };

/**
 * `localSteps: "auto"`: τ* = argmin of G over 1..maxLocalSteps, ties to the smaller τ. Requires
 * β, η, φ > 0 and R > c + b (design.md §5); missing or negative estimates, and c + b = 0 (which makes
 * T infinite), are refused the same way, so the caller reports Unschedulable `budget`.
 */
export function optimalLocalSteps(estimates: AggregationEstimates, budgetSeconds: number | undefined, maxLocalSteps: number): LocalStepsResult {
  const check = validateParams(estimates, budgetSeconds);
  if (typeof check === "string") return { status: "invalid", message: check };
  const p = check;
  let bestTau = 1;
  let best = convergenceBound(1, p);
  for (let tau = 2; tau <= maxLocalSteps; tau++) {
    const g = convergenceBound(tau, p);
    if (g < best) {
      best = g;
      bestTau = tau;
    }
  }
  return { status: "ok", localSteps: bestTau, bound: best, rounds: roundsWithin(bestTau, p) };
}

function validateParams(e: AggregationEstimates, budgetSeconds: number | undefined): LocalStepsParams | string {
  const need: Array<[keyof AggregationEstimates, number | undefined]> = [
    ["learningRate", e.learningRate],
    ["beta", e.beta],
    ["delta", e.delta],
    ["rho", e.rho],
    ["phi", e.phi],
    ["localStepSeconds", e.localStepSeconds],
    ["aggregationSeconds", e.aggregationSeconds],
  ];
  const missing = need.filter(([, v]) => v === undefined || !Number.isFinite(v)).map(([k]) => `aggregation.estimates.${k}`);
  if (budgetSeconds === undefined || !Number.isFinite(budgetSeconds)) missing.push("aggregation.budget.seconds");
  if (missing.length > 0) return `localSteps auto needs ${missing.join(", ")}`;
  const p: LocalStepsParams = {
    learningRate: e.learningRate!,
    beta: e.beta!,
    delta: e.delta!,
    rho: e.rho!,
    phi: e.phi!,
    localStepSeconds: e.localStepSeconds!,
    aggregationSeconds: e.aggregationSeconds!,
    budgetSeconds: budgetSeconds!,
  };
  const bad: string[] = [];
  if (!(p.beta > 0)) bad.push("beta must be > 0");
  if (!(p.learningRate > 0)) bad.push("learningRate must be > 0");
  if (!(p.phi > 0)) bad.push("phi must be > 0");
  if (p.delta < 0) bad.push("delta must be ≥ 0");
  if (p.rho < 0) bad.push("rho must be ≥ 0");
  if (p.localStepSeconds < 0 || p.aggregationSeconds < 0) bad.push("step and aggregation seconds must be ≥ 0");
  else if (p.localStepSeconds + p.aggregationSeconds === 0) bad.push("localStepSeconds + aggregationSeconds must be > 0");
  if (!(p.budgetSeconds > p.localStepSeconds + p.aggregationSeconds)) {
    bad.push(`budget ${p.budgetSeconds} s must exceed localStepSeconds + aggregationSeconds (${p.localStepSeconds + p.aggregationSeconds} s)`);
  }
  return bad.length > 0 ? `localSteps auto: ${bad.join("; ")}` : p;
}
