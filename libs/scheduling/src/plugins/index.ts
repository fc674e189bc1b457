import type { FilterPlugin, SchedulingProfile } from "../framework/types.js";
import { dataLocality } from "./data-locality.js";
import { nodeReady } from "./node-ready.js";
import { nodeSelector } from "./node-selector.js";
import { resourceFit } from "./resource-fit.js";
import { serverLoad } from "./server-load.js";
import { taintToleration } from "./taint-toleration.js";
import { tierPrivacy } from "./tier-privacy.js";

export { dataLocality, nodeReady, nodeSelector, resourceFit, serverLoad, taintToleration, tierPrivacy };
export { tolerates, untoleratedTaint } from "./taint-toleration.js";

/** Every filter, cheapest and most selective first. */
export const DEFAULT_FILTERS: readonly FilterPlugin[] = [nodeReady, taintToleration, nodeSelector, tierPrivacy, dataLocality, resourceFit, serverLoad];

/** The default profile: every filter. */
export function defaultProfile(overrides: Partial<SchedulingProfile> = {}): SchedulingProfile {
  return { filters: DEFAULT_FILTERS, ...overrides };
}
