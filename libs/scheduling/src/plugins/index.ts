import type { FilterPlugin, SchedulingProfile, ScorePlugin } from "../framework/types.js";
import { balancedAllocation } from "./balanced-allocation.js";
import { dataLocality } from "./data-locality.js";
import { deviceEnergy } from "./device-energy.js";
import { leastAllocated } from "./least-allocated.js";
import { nodeReady } from "./node-ready.js";
import { nodeSelector } from "./node-selector.js";
import { predictedLatency } from "./predicted-latency.js";
import { resourceFit } from "./resource-fit.js";
import { serverLoad } from "./server-load.js";
import { taintToleration } from "./taint-toleration.js";
import { tierPrivacy } from "./tier-privacy.js";

export {
  balancedAllocation,
  dataLocality,
  deviceEnergy,
  leastAllocated,
  nodeReady,
  nodeSelector,
  predictedLatency,
  resourceFit,
  serverLoad,
  taintToleration,
  tierPrivacy,
};
export { tolerates, untoleratedTaint } from "./taint-toleration.js";
export { normalizeLowerIsBetter } from "./normalize.js";

/** Every filter, cheapest and most selective first. */
export const DEFAULT_FILTERS: readonly FilterPlugin[] = [
  nodeReady,
  taintToleration,
  nodeSelector,
  tierPrivacy,
  dataLocality,
  resourceFit,
  serverLoad,
];

/** Every score plugin by name, for building profiles from configuration. */
export const SCORE_PLUGINS: Readonly<Record<string, ScorePlugin>> = {
  PredictedLatency: predictedLatency,
  DeviceEnergy: deviceEnergy,
  LeastAllocated: leastAllocated,
  BalancedAllocation: balancedAllocation,
};

/**
 * The default profile: all filters; scores PredictedLatency ×2 (the product's point), DeviceEnergy,
 * LeastAllocated and BalancedAllocation ×1; full scan (no sampling).
 */
export function defaultProfile(overrides: Partial<SchedulingProfile> = {}): SchedulingProfile {
  return {
    filters: DEFAULT_FILTERS,
    scores: [
      { plugin: predictedLatency, weight: 2 },
      { plugin: deviceEnergy, weight: 1 },
      { plugin: leastAllocated, weight: 1 },
      { plugin: balancedAllocation, weight: 1 },
    ],
    percentageOfNodesToScore: 100,
    minFeasibleNodesToFind: 100,
    ...overrides,
  };
}
