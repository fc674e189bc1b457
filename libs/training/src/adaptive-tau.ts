import { convergenceBound, type LocalStepsParams } from "@eiaas/scheduling";
import { weightedMean } from "./fedavg.js";
import { distance } from "./vector.js";

/**
 * What a participant measured at the start of a round, on its own shard, for the control of
 * Wang et al. (IEEE JSAC 2019, "Adaptive Federated Learning in Resource Constrained Edge Computing
 * Systems", Algorithm 2): the loss and full gradient at the global model w(t₀) it received, and —
 * when it trained last round — ρᵢ and βᵢ between its last local model wᵢ(t) and w(t₀).
 */
export interface ParticipantEstimate {
  samples: number;
  /** ∇Fᵢ(w(t₀)) */
  gradient: Float64Array;
  /** |Fᵢ(wᵢ(t)) − Fᵢ(w(t₀))| / ‖wᵢ(t) − w(t₀)‖ */
  rho?: number;
  /** ‖∇Fᵢ(wᵢ(t)) − ∇Fᵢ(w(t₀))‖ / ‖wᵢ(t) − w(t₀)‖ */
  beta?: number;
}

/** ρᵢ and βᵢ from the two points (undefined when the points coincide: nothing to measure). */
export function localSmoothness(local: { w: Float64Array; loss: number; gradient: Float64Array }, global: { w: Float64Array; loss: number; gradient: Float64Array }): { rho?: number; beta?: number } {
  const d = distance(local.w, global.w);
  if (!(d > 1e-12)) return {};
  return { rho: Math.abs(local.loss - global.loss) / d, beta: distance(local.gradient, global.gradient) / d };
}

export interface Estimates {
  rho: number;
  beta: number;
  delta: number;
}

/**
 * The aggregator's estimates: ρ̂ and β̂ the sample-weighted means of the participants' ρᵢ, βᵢ;
 * ∇F(w(t₀)) the weighted mean gradient; δ̂ the weighted mean of δᵢ = ‖∇Fᵢ(w(t₀)) − ∇F(w(t₀))‖.
 * Undefined until some participant could measure ρ and β (after its first round).
 */
export function estimate(reports: readonly ParticipantEstimate[]): Estimates | undefined {
  const measured = reports.filter((r) => r.rho !== undefined && r.beta !== undefined && Number.isFinite(r.rho) && Number.isFinite(r.beta));
  if (measured.length === 0) return undefined;
  const size = reports[0]!.gradient.length;
  const total = reports.reduce((s, r) => s + r.samples, 0);
  const mean = new Float64Array(size);
  for (const r of reports) for (let i = 0; i < size; i++) mean[i] = mean[i]! + (r.samples / total) * r.gradient[i]!;
  return {
    rho: weightedMean(measured.map((r) => ({ value: r.rho!, samples: r.samples }))),
    beta: weightedMean(measured.map((r) => ({ value: r.beta!, samples: r.samples }))),
    delta: weightedMean(reports.map((r) => ({ value: distance(r.gradient, mean), samples: r.samples }))),
  };
}

export interface TauControl {
  learningRate: number;
  /** φ: the paper's control parameter of the bound. */
  phi: number;
  /** τ may grow at most this factor a round (the paper's γ). */
  growth: number;
  maxTau: number;
}

export interface TauCosts {
  /** c: measured seconds of one local step (the slowest participant's, as the round waits for it). */
  stepSeconds: number;
  /** b: measured seconds of one aggregation (a round's wall time less its local steps). */
  aggregationSeconds: number;
  /** What is left of the budget, in seconds. */
  remainingSeconds: number;
}

export type TauDecision = { stop: false; tau: number; bound?: number } | { stop: true; why: string };

/**
 * τ for the next round: argmin over 1..min(γ·τ, τ_max) of the bound G(τ) with the estimates and
 * the remaining budget (T(τ) rounds of cτ + b); without estimates yet, τ stays. Then the budget:
 * a round of τ steps must fit in what is left — τ shrinks to what fits, and when not even one step
 * and one aggregation fit, training stops.
 */
export function chooseTau(current: number, est: Estimates | undefined, costs: TauCosts, control: TauControl): TauDecision {
  const c = Math.max(costs.stepSeconds, 1e-9);
  const b = Math.max(costs.aggregationSeconds, 1e-9);
  const left = costs.remainingSeconds;
  if (left < c + b) return { stop: true, why: `budget exhausted: ${left.toFixed(3)} s left, a round of one step needs ${(c + b).toFixed(3)} s` };
  let tau = current;
  let bound: number | undefined;
  const upper = Math.max(1, Math.min(control.maxTau, Math.floor(control.growth * current)));
  if (est && est.beta > 0) {
    const p: LocalStepsParams = {
      learningRate: control.learningRate,
      beta: est.beta,
      delta: est.delta,
      rho: est.rho,
      phi: control.phi,
      localStepSeconds: c,
      aggregationSeconds: b,
      budgetSeconds: left,
    };
    let best = Infinity;
    for (let t = 1; t <= upper; t++) {
      const g = convergenceBound(t, p);
      if (g < best) {
        best = g;
        tau = t;
      }
    }
    if (Number.isFinite(best)) bound = best;
    else tau = Math.min(current, upper);
  }
  const fits = Math.floor((left - b) / c);
  tau = Math.max(1, Math.min(tau, fits));
  return bound !== undefined ? { stop: false, tau, bound } : { stop: false, tau };
}
