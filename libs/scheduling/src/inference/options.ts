import type { ConcreteArchitecture, InferenceObjective, PrivacyBoundary } from "@eiaas/api";

/** Concrete architectures, by code. */
export const ARCH_NAMES: readonly ConcreteArchitecture[] = ["device", "edge", "cloud", "edge-device", "cloud-device", "edge-cloud"];
export const ARCH_DEVICE = 0;
export const ARCH_EDGE = 1;
export const ARCH_CLOUD = 2;
export const ARCH_EDGE_DEVICE = 3;
export const ARCH_CLOUD_DEVICE = 4;
export const ARCH_EDGE_CLOUD = 5;

export const OBJ_LATENCY = 0;
export const OBJ_ENERGY = 1;
export const OBJ_ACCURACY = 2;
export function objectiveCode(o: InferenceObjective): number {
  return o === "energy" ? OBJ_ENERGY : o === "accuracy" ? OBJ_ACCURACY : OBJ_LATENCY;
}

export const PRIVACY_DEVICE = 0;
export const PRIVACY_EDGE = 1;
export const PRIVACY_CLOUD = 2;
export function privacyCode(b: PrivacyBoundary): number {
  return b === "device" ? PRIVACY_DEVICE : b === "edge" ? PRIVACY_EDGE : PRIVACY_CLOUD;
}

/** Why options of a client were eliminated (bits, reported in this order). */
export const REASONS = ["architecture", "privacy", "accuracy", "network", "compute", "slo", "resources", "load"] as const;
export type InferenceReason = (typeof REASONS)[number] | "quota" | "clients" | "model";
export const R_ARCHITECTURE = 1;
export const R_PRIVACY = 2;
export const R_ACCURACY = 4;
export const R_NETWORK = 8;
export const R_COMPUTE = 16;
export const R_SLO = 32;
export const R_RESOURCES = 64;
export const R_LOAD = 128;
/**
 * Not a reason of its own (not in REASONS, never reported): set beside R_RESOURCES or R_LOAD when
 * the option was refused for lack of room alone (an allocation check), which evicting tasks could
 * change — unlike a cordoned client, also reported as `resources`. Decides the plan's code.
 */
export const R_ROOM = 256;

/** Relative tolerance of every comparison between costs (design.md §5: ties within 1e-9 relative). */
export const REL_TOL = 1e-9;

export function approxEqual(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= REL_TOL * Math.max(Math.abs(a), Math.abs(b));
}

/** ≤ with the same tolerance, so an SLO met exactly is met despite rounding. */
export function withinLimit(value: number, limit: number): boolean {
  return value <= limit || approxEqual(value, limit);
}

/** One way to serve a client: a chain, a split and where each side runs. */
export interface PlanOption {
  /** Index into the compiled model's chains. */
  chain: number;
  /** Split j: layers 1..j before the cut (client, or the edge in edge-cloud), j+1..N after. */
  j: number;
  arch: number;
  /** Node running layers j+1..N, or -1 when j = N. */
  tail: number;
  /** Node running layers 1..j, or -1 when j = 0. */
  head: number;
  /** What options are ranked by: the measured end-to-end latency when the client measured this option, else `estimatedMs`. */
  latencyMs: number;
  /** The cost model's estimate (what the plan reports as predicted). */
  estimatedMs: number;
  deviceEnergyMj: number;
  accuracy: number;
  uplinkBytes: number;
  /** Tie-break ranks: server (tail) name, variant name, head name (-1 = none / the client). */
  serverRank: number;
  variantRank: number;
  headRank: number;
}

export function emptyOption(): PlanOption {
  return {
    chain: -1,
    j: 0,
    arch: 0,
    tail: -1,
    head: -1,
    latencyMs: Infinity,
    estimatedMs: Infinity,
    deviceEnergyMj: Infinity,
    accuracy: 0,
    uplinkBytes: 0,
    serverRank: -1,
    variantRank: -1,
    headRank: -1,
  };
}

/**
 * Whether the candidate (given as scalars, to stay allocation-free in the split loop) is strictly
 * better than `best` under the objective (design.md §5): latency minimises latency, energy device
 * energy, accuracy takes the most accurate then the fastest; ties within 1e-9 relative go to
 * higher accuracy, smaller j, server name, variant name (then head name and chain, so the order is
 * total and results deterministic).
 */
export function isBetter(
  objective: number,
  latencyMs: number,
  energyMj: number,
  accuracy: number,
  j: number,
  serverRank: number,
  variantRank: number,
  headRank: number,
  chain: number,
  best: PlanOption,
): boolean {
  if (best.chain < 0) return true;
  if (objective === OBJ_ACCURACY) {
    if (!approxEqual(accuracy, best.accuracy)) return accuracy > best.accuracy;
    if (!approxEqual(latencyMs, best.latencyMs)) return latencyMs < best.latencyMs;
  } else if (objective === OBJ_ENERGY) {
    if (!approxEqual(energyMj, best.deviceEnergyMj)) return energyMj < best.deviceEnergyMj;
  } else if (!approxEqual(latencyMs, best.latencyMs)) {
    return latencyMs < best.latencyMs;
  }
  if (!approxEqual(accuracy, best.accuracy)) return accuracy > best.accuracy;
  if (j !== best.j) return j < best.j;
  if (serverRank !== best.serverRank) return serverRank < best.serverRank;
  if (variantRank !== best.variantRank) return variantRank < best.variantRank;
  if (headRank !== best.headRank) return headRank < best.headRank;
  return chain < best.chain;
}

/** 8·D/(B·1000) inline: crossing no link is free, a dead link never delivers. */
export function transferMs(bytes: number, bw: number): number {
  return bw === Infinity ? 0 : bw > 0 ? (8 * bytes) / (bw * 1000) : Infinity;
}

/** Writes an option into `o` (reused across options: no allocation per option). */
export function setOption(
  o: PlanOption,
  chain: number,
  j: number,
  arch: number,
  tail: number,
  head: number,
  ranked: number,
  lat: number,
  en: number,
  acc: number,
  uplink: number,
  serverRank: number,
  variantRank: number,
  headRank: number,
): void {
  o.chain = chain;
  o.j = j;
  o.arch = arch;
  o.tail = tail;
  o.head = head;
  o.latencyMs = ranked;
  o.estimatedMs = lat;
  o.deviceEnergyMj = en;
  o.accuracy = acc;
  o.uplinkBytes = uplink;
  o.serverRank = serverRank;
  o.variantRank = variantRank;
  o.headRank = headRank;
}
