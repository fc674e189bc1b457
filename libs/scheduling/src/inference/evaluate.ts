// One client's best option over every candidate chain, server and split (design.md §5).
import type { Chain, ChainTiming } from "../cost/chains.js";
import { pathInto, type NetworkPath } from "../snapshot/network.js";
import { edgeCloudPaths, evaluateEdgeCloud, type EdgeCloudPaths } from "./edge-cloud.js";
import {
  ARCH_CLOUD,
  ARCH_CLOUD_DEVICE,
  ARCH_DEVICE,
  ARCH_EDGE,
  ARCH_EDGE_DEVICE,
  PRIVACY_DEVICE,
  PRIVACY_EDGE,
  R_ARCHITECTURE,
  R_COMPUTE,
  R_LOAD,
  R_NETWORK,
  R_PRIVACY,
  R_RESOURCES,
  R_ROOM,
  R_SLO,
  isBetter,
  setOption,
  transferMs,
  withinLimit,
  type PlanOption,
} from "./options.js";
import { rankedMs, timingOn, type ClientDiagnostics, type MeasuredOption, type ServiceContext } from "./service-context.js";
import { SIDE_HEAD, SIDE_TAIL, groupFits } from "./task-groups.js";

const tmpPath: NetworkPath = { bandwidthMbps: 0, rttMs: 0, hops: 0 };

/**
 * What stays fixed for one client while its chains are tried: reused from call to call (the
 * planner evaluates clients one at a time), so the per-option loops allocate nothing.
 */
interface ClientPass {
  ctx: ServiceContext;
  client: number;
  /** Whether the client's own node can take a head task (schedulable). */
  clientOk: boolean;
  /** End-to-end latencies the client measured, if any. */
  measured: readonly MeasuredOption[] | undefined;
  /** Bandwidth (−1: no path) and RTT from the client to each candidate server. */
  bw: Float64Array;
  rtt: Float64Array;
  best: PlanOption;
  diag: ClientDiagnostics;
  /** Some option's architecture is the one asked for (else: R_ARCHITECTURE). */
  archMatched: boolean;
}

/**
 * Finds the best feasible option for one client over every candidate chain, server and split
 * (design.md §5), writing it into `best` (best.chain = -1 when there is none) and the reasons
 * options were eliminated into `diag`. Checks run cheapest first; resources and load are checked
 * only for options that would beat the current best, which cannot change the optimum.
 */
export function evaluateClient(ctx: ServiceContext, client: number, best: PlanOption, diag: ClientDiagnostics): void {
  const { snapshot, arch } = ctx;
  const pass: ClientPass = {
    ctx,
    client,
    clientOk: snapshot.schedulable[client] === 1,
    measured: ctx.measuredOptions?.get(client),
    bw: snapshot.scratch("isvc.bw", ctx.servers.length),
    rtt: snapshot.scratch("isvc.rtt", ctx.servers.length),
    best,
    diag,
    archMatched: false,
  };
  serverPaths(pass);
  const ec: EdgeCloudPaths = edgeCloudPaths(ctx, client);
  best.chain = -1;
  diag.reasons = 0;
  diag.fastestLatencyMs = Infinity;
  diag.lowestEnergyMj = Infinity;
  let reasons = 0;
  for (const chain of ctx.chains) {
    const own = timingOn(ctx, chain, snapshot.nodes[client]!);
    if (arch < 0 || arch === ARCH_DEVICE) {
      pass.archMatched = true;
      reasons |= deviceOnly(pass, chain, own);
    }
    reasons |= serverOptions(pass, chain, own);
    if (ec.anyCloud && chain.length >= 2) {
      pass.archMatched = true;
      reasons |= evaluateEdgeCloud(ctx, client, ec, chain, best, diag);
    }
  }
  if (!pass.archMatched && ctx.chains.length > 0) reasons |= R_ARCHITECTURE;
  diag.reasons = reasons;
}

/** The client's path to each candidate server (bandwidth −1 where there is none). */
function serverPaths(p: ClientPass): void {
  const { snapshot, servers } = p.ctx;
  for (let k = 0; k < servers.length; k++) {
    if (pathInto(snapshot, p.client, servers[k]!, tmpPath)) {
      p.bw[k] = tmpPath.bandwidthMbps;
      p.rtt[k] = tmpPath.rttMs;
    } else p.bw[k] = -1;
  }
}

/** Device-only: the whole chain on the client. Returns the reasons it was eliminated. */
function deviceOnly(p: ClientPass, chain: Chain, tc: ChainTiming): number {
  const { ctx, client, best, diag } = p;
  const n = chain.length;
  const lat = tc.prefixT[n]!;
  const en = tc.prefixE[n]!;
  if (!(lat < Infinity)) return R_COMPUTE;
  if (!p.clientOk) return R_RESOURCES;
  if (lat < diag.fastestLatencyMs) diag.fastestLatencyMs = lat;
  if (en < diag.lowestEnergyMj) diag.lowestEnergyMj = en;
  if (!withinLimit(lat, ctx.sloLatencyMs) || !withinLimit(en, ctx.maxDeviceEnergyMj)) return R_SLO;
  const vr = ctx.variantRank[chain.index]!;
  const ranked = p.measured === undefined ? lat : rankedMs(p.measured, chain.index, n, ARCH_DEVICE, -1, client, lat);
  if (!isBetter(ctx.objective, ranked, en, chain.accuracy, n, -1, vr, -1, chain.index, best)) return 0;
  if (!groupFits(ctx, client, chain, SIDE_HEAD, n)) return R_RESOURCES | R_ROOM;
  setOption(best, chain.index, n, ARCH_DEVICE, -1, client, ranked, lat, en, chain.accuracy, 0, -1, vr, -1);
  return 0;
}

/**
 * Edge/cloud only (j = 0: the client uploads its input) and device + server splits (1 ≤ j < N:
 * the client runs 1..j) on each candidate server. Returns the reasons options were eliminated.
 */
function serverOptions(p: ClientPass, chain: Chain, tc: ChainTiming): number {
  const { ctx, client, best, diag } = p;
  const { snapshot, servers, serverIsCloud, arch, privacy, rps, objective } = ctx;
  const n = chain.length;
  const D = chain.splitBytes;
  const vr = ctx.variantRank[chain.index]!;
  const cT = tc.prefixT;
  const cE = tc.prefixE;
  const transmitW = snapshot.nodes[client]!.power.transmitW;
  let reasons = 0;
  for (let k = 0; k < servers.length; k++) {
    const s = servers[k]!;
    if (s === client) continue;
    const cloud = serverIsCloud[k] === 1;
    const want0 = arch < 0 || arch === (cloud ? ARCH_CLOUD : ARCH_EDGE);
    const wantSplit = arch < 0 || arch === (cloud ? ARCH_CLOUD_DEVICE : ARCH_EDGE_DEVICE);
    if (!want0 && !wantSplit) continue;
    p.archMatched = true;
    const b = p.bw[k]!;
    if (b < 0) {
      reasons |= R_NETWORK;
      continue;
    }
    const r = p.rtt[k]!;
    const sT = timingOn(ctx, chain, snapshot.nodes[s]!).suffixT;
    const jTo = wantSplit ? n - 1 : 0;
    for (let j = want0 ? 0 : 1; j <= jTo; j++) {
      if (j === 0 && (privacy === PRIVACY_DEVICE || (privacy === PRIVACY_EDGE && cloud))) {
        reasons |= R_PRIVACY;
        continue;
      }
      const wire = transferMs(D[j]!, b);
      const lat = cT[j]! + (wire + r) + sT[j]!;
      if (!(lat < Infinity)) {
        reasons |= wire === Infinity ? R_NETWORK : R_COMPUTE;
        continue;
      }
      const en = cE[j]! + transmitW * wire;
      if (lat < diag.fastestLatencyMs) diag.fastestLatencyMs = lat;
      if (en < diag.lowestEnergyMj) diag.lowestEnergyMj = en;
      if (!withinLimit(lat, ctx.sloLatencyMs) || !withinLimit(en, ctx.maxDeviceEnergyMj)) {
        reasons |= R_SLO;
        continue;
      }
      const optArch = j === 0 ? (cloud ? ARCH_CLOUD : ARCH_EDGE) : cloud ? ARCH_CLOUD_DEVICE : ARCH_EDGE_DEVICE;
      const ranked = p.measured === undefined ? lat : rankedMs(p.measured, chain.index, j, optArch, s, j === 0 ? -1 : client, lat);
      if (!isBetter(objective, ranked, en, chain.accuracy, j, k, vr, -1, chain.index, best)) continue;
      if (j > 0 && !p.clientOk) {
        reasons |= R_RESOURCES;
        continue;
      }
      if ((j > 0 && !groupFits(ctx, client, chain, SIDE_HEAD, j)) || !groupFits(ctx, s, chain, SIDE_TAIL, j)) {
        reasons |= R_RESOURCES | R_ROOM;
        continue;
      }
      if (!snapshot.fitsLoad(s, (rps * sT[j]!) / 1000)) {
        reasons |= R_LOAD | R_ROOM;
        continue;
      }
      setOption(best, chain.index, j, optArch, s, j === 0 ? -1 : client, ranked, lat, en, chain.accuracy, D[j]!, k, vr, -1);
    }
  }
  return reasons;
}
