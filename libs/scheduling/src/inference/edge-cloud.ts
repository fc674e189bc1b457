// Edge-cloud options: the client's edge parent runs the head of the chain, a cloud server the tail.
import type { Chain } from "../cost/chains.js";
import { pathInto, type NetworkPath } from "../snapshot/network.js";
import { ARCH_EDGE_CLOUD, PRIVACY_DEVICE, R_COMPUTE, R_LOAD, R_NETWORK, R_PRIVACY, R_RESOURCES, R_ROOM, R_SLO, isBetter, setOption, transferMs, withinLimit, type PlanOption } from "./options.js";
import { rankedMs, timingOn, type ClientDiagnostics, type ServiceContext } from "./service-context.js";
import { SIDE_HEAD, SIDE_TAIL, groupFits } from "./task-groups.js";

const tmpPath: NetworkPath = { bandwidthMbps: 0, rttMs: 0, hops: 0 };

/** A client's edge-cloud paths: none unless its edge parent is a candidate and a cloud server lies beyond. */
export interface EdgeCloudPaths {
  /** The client's edge parent (−1: no edge-cloud option). */
  edge: number;
  /** Client → edge. */
  upBw: number;
  upRtt: number;
  /** Some cloud server is a candidate beyond the edge. */
  anyCloud: boolean;
  /** Edge → each candidate server: −2 not a cloud server (or the client or edge), −1 no path. */
  ecBw: Float64Array;
  ecRtt: Float64Array;
}

// Reused from client to client (the planner evaluates one at a time).
const paths: EdgeCloudPaths = { edge: -1, upBw: 0, upRtt: 0, anyCloud: false, ecBw: new Float64Array(0), ecRtt: new Float64Array(0) };

/**
 * Edge-cloud needs the client's edge parent among the candidate servers and a cloud server beyond
 * it; the paths do not depend on the chain, so they are found once per client.
 */
export function edgeCloudPaths(ctx: ServiceContext, client: number): EdgeCloudPaths {
  const { snapshot, servers, serverIsCloud, arch } = ctx;
  const nodes = snapshot.nodes;
  const m = servers.length;
  paths.edge = -1;
  paths.upBw = 0;
  paths.upRtt = 0;
  paths.anyCloud = false;
  paths.ecBw = snapshot.scratch("isvc.ecbw", m);
  paths.ecRtt = snapshot.scratch("isvc.ecrtt", m);
  const p = nodes[client]!.parentIndex;
  if (!((arch < 0 || arch === ARCH_EDGE_CLOUD) && p >= 0 && nodes[p]!.tier === "edge" && ctx.serverRankOf.has(p))) return paths;
  paths.edge = p;
  pathInto(snapshot, client, p, tmpPath);
  paths.upBw = tmpPath.bandwidthMbps;
  paths.upRtt = tmpPath.rttMs;
  for (let k = 0; k < m; k++) {
    const s = servers[k]!;
    if (serverIsCloud[k] !== 1 || s === client || s === p) {
      paths.ecBw[k] = -2;
      continue;
    }
    paths.anyCloud = true;
    if (pathInto(snapshot, p, s, tmpPath)) {
      paths.ecBw[k] = tmpPath.bandwidthMbps;
      paths.ecRtt[k] = tmpPath.rttMs;
    } else paths.ecBw[k] = -1;
  }
  return paths;
}

/**
 * Edge-cloud (1 ≤ j < N): the client uploads the input to its edge parent, which runs 1..j; a
 * cloud server runs the rest. Latency = upload(D_0) + Σ_{i≤j} Te + transfer(D_j, edge→cloud) +
 * Σ_{i>j} Tcloud; device energy = transmitW · upload time (which, as design.md §5 defines upload,
 * includes the RTT); uplinkBytes = D_0. The edge's work counts towards its load as a tail's does.
 */
export function evaluateEdgeCloud(ctx: ServiceContext, client: number, paths: EdgeCloudPaths, chain: Chain, best: PlanOption, diag: ClientDiagnostics): number {
  const { edge, upBw, upRtt, ecBw, ecRtt } = paths;
  const vr = ctx.variantRank[chain.index]!;
  const transmitW = ctx.snapshot.nodes[client]!.power.transmitW;
  const { snapshot, servers, objective, rps } = ctx;
  const nodes = snapshot.nodes;
  const m = servers.length;
  if (ctx.privacy === PRIVACY_DEVICE) return R_PRIVACY;
  const upload = transferMs(chain.splitBytes[0]!, upBw) + upRtt;
  if (!(upload < Infinity)) return R_NETWORK;
  let reasons = 0;
  const en = transmitW * upload;
  const eT = timingOn(ctx, chain, nodes[edge]!).prefixT;
  const mo = ctx.measuredOptions?.get(client);
  const D = chain.splitBytes;
  const n = chain.length;
  const headRank = ctx.serverRankOf.get(edge)!;
  for (let k = 0; k < m; k++) {
    const b = ecBw[k]!;
    if (b === -2) continue;
    if (b < 0) {
      reasons |= R_NETWORK;
      continue;
    }
    const s = servers[k]!;
    const sT = timingOn(ctx, chain, nodes[s]!).suffixT;
    for (let j = 1; j < n; j++) {
      const wire = transferMs(D[j]!, b);
      const lat = upload + eT[j]! + (wire + ecRtt[k]!) + sT[j]!;
      if (!(lat < Infinity)) {
        reasons |= wire === Infinity ? R_NETWORK : R_COMPUTE;
        continue;
      }
      if (lat < diag.fastestLatencyMs) diag.fastestLatencyMs = lat;
      if (en < diag.lowestEnergyMj) diag.lowestEnergyMj = en;
      if (!withinLimit(lat, ctx.sloLatencyMs) || !withinLimit(en, ctx.maxDeviceEnergyMj)) {
        reasons |= R_SLO;
        continue;
      }
      const ranked = mo === undefined ? lat : rankedMs(mo, chain.index, j, ARCH_EDGE_CLOUD, s, edge, lat);
      if (!isBetter(objective, ranked, en, chain.accuracy, j, k, vr, headRank, chain.index, best)) continue;
      if (!groupFits(ctx, edge, chain, SIDE_HEAD, j) || !groupFits(ctx, s, chain, SIDE_TAIL, j)) {
        reasons |= R_RESOURCES | R_ROOM;
        continue;
      }
      if (!snapshot.fitsLoad(edge, (rps * eT[j]!) / 1000) || !snapshot.fitsLoad(s, (rps * sT[j]!) / 1000)) {
        reasons |= R_LOAD | R_ROOM;
        continue;
      }
      setOption(best, chain.index, j, ARCH_EDGE_CLOUD, s, edge, ranked, lat, en, chain.accuracy, D[0]!, k, vr, headRank);
    }
  }
  return reasons;
}
