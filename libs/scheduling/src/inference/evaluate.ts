import type { Chain, ChainTiming } from "../cost/chains.js";
import type { ModelMeasurements } from "../cost/measurements.js";
import type { SnapshotNode } from "../snapshot/types.js";
import { pathInto, type NetworkPath } from "../snapshot/network.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import type { ResourceVector } from "../snapshot/types.js";
import {
  ARCH_CLOUD,
  ARCH_CLOUD_DEVICE,
  ARCH_DEVICE,
  ARCH_EDGE,
  ARCH_EDGE_CLOUD,
  ARCH_EDGE_DEVICE,
  PRIVACY_DEVICE,
  PRIVACY_EDGE,
  R_ARCHITECTURE,
  R_COMPUTE,
  R_LOAD,
  R_NETWORK,
  R_PRIVACY,
  R_RESOURCES,
  R_SLO,
  isBetter,
  withinLimit,
  type PlanOption,
} from "./options.js";

export const SIDE_HEAD = 0;
export const SIDE_TAIL = 1;

/**
 * A task being planned: what one service runs on one node for one chain. Clients whose split puts
 * layers of the same chain on the same node share it (one process holds the weights once), so its
 * layer range is the union of theirs: the head side runs 1..to, the tail side from..N.
 */
export interface TaskGroup {
  node: number;
  chain: number;
  side: number;
  from: number;
  to: number;
  /** Σ rps · Σ T(layers it runs for that client) / 1000 over its clients. */
  load: number;
  clients: number[];
}

/** Everything about a service that stays fixed while its clients are planned one by one. */
export interface ServiceContext {
  readonly snapshot: Snapshot;
  /** Candidate chains (after the objective's and minAccuracy's candidate rules). */
  readonly chains: readonly Chain[];
  /** Number of chains of the compiled model (for group keys). */
  readonly chainTotal: number;
  /** Rank of each compiled chain's variant name. */
  readonly variantRank: Int32Array;
  /** Candidate servers: node indices in name order. */
  readonly servers: Int32Array;
  readonly serverIsCloud: Uint8Array;
  readonly serverRankOf: ReadonlyMap<number, number>;
  readonly objective: number;
  /** Infinity when the SLO has none. */
  readonly sloLatencyMs: number;
  readonly maxDeviceEnergyMj: number;
  readonly privacy: number;
  /** Wanted architecture code, or -1 for auto. */
  readonly arch: number;
  readonly rps: number;
  readonly resources: Readonly<ResourceVector>;
  readonly groups: Map<number, TaskGroup>;
  /** Groups opened per node so far (tasks not yet in the snapshot, each needing a task slot). */
  readonly newTasksOn: Map<number, number>;
  /** What serving tasks measured of the model, by node name (undefined: nothing measured). */
  readonly measured: ModelMeasurements | undefined;
  /** End-to-end latencies clients measured, by client index (undefined: none). */
  readonly measuredOptions: ReadonlyMap<number, readonly MeasuredOption[]> | undefined;
}

/**
 * A plan option a client measured end to end (`status.measured` of the service), in the
 * planner's codes: the option is priced at what was measured instead of the cost model's
 * estimate when options are ranked. Feasibility (the SLO) stays on the estimate, so a measured
 * miss never turns a running service Unschedulable; it only lets a better-ranked option win.
 */
export interface MeasuredOption {
  chain: number;
  j: number;
  arch: number;
  tail: number;
  head: number;
  latencyMs: number;
}

/** The chain's timing on a node: the node's own measurements when it has some, else its cost class's. */
export function timingOn(ctx: Pick<ServiceContext, "measured">, chain: Chain, node: SnapshotNode): ChainTiming {
  const m = ctx.measured;
  return chain.timing(node, m === undefined ? undefined : m.get(node.name));
}

/** The latency an option is ranked by: what the client measured with it, else the estimate. */
function rankedMs(list: readonly MeasuredOption[] | undefined, chain: number, j: number, arch: number, tail: number, head: number, estimate: number): number {
  if (list === undefined) return estimate;
  for (const m of list) if (m.chain === chain && m.j === j && m.arch === arch && m.tail === tail && m.head === head) return m.latencyMs;
  return estimate;
}

/** Why a client's options were eliminated, for the Unschedulable message. */
export interface ClientDiagnostics {
  reasons: number;
  /** Fastest latency (and lowest energy) among options that reached the SLO check. */
  fastestLatencyMs: number;
  lowestEnergyMj: number;
}

export function groupKey(ctx: ServiceContext, node: number, chain: number, side: number): number {
  return (node * ctx.chainTotal + chain) * 2 + side;
}

// The request delta of the last `groupFits` call, read by `applyGroup` (no allocation per option).
let dCpu = 0;
let dMem = 0;
let dGpu = 0;

/**
 * Whether adding the layers of split j (head side: 1..j; tail side: j+1..N) to the node's task
 * for this chain fits the node: a new task asks for the service's `resources` plus its layers'
 * memory; an existing one only for the memory of layers it does not run yet.
 */
export function groupFits(ctx: ServiceContext, node: number, chain: Chain, side: number, j: number): boolean {
  const g = ctx.groups.get(groupKey(ctx, node, chain.index, side));
  const r = ctx.resources;
  if (side === SIDE_HEAD) {
    if (!g) {
      dCpu = r.cpu;
      dGpu = r.gpu;
      dMem = r.memoryMiB + chain.memPrefix[j]!;
    } else {
      dCpu = 0;
      dGpu = 0;
      dMem = j > g.to ? chain.memPrefix[j]! - chain.memPrefix[g.to]! : 0;
    }
  } else if (!g) {
    dCpu = r.cpu;
    dGpu = r.gpu;
    dMem = r.memoryMiB + chain.memSuffix[j]!;
  } else {
    dCpu = 0;
    dGpu = 0;
    dMem = j + 1 < g.from ? chain.memSuffix[j]! - chain.memSuffix[g.from - 1]! : 0;
  }
  // A new group is a new task on the node: it needs a task slot beside those opened before it.
  return ctx.snapshot.fits(node, dCpu, dMem, dGpu, g ? 0 : 1 + (ctx.newTasksOn.get(node) ?? 0));
}

/** Adds a client's split to the node's task for the chain and reserves the difference in the snapshot. */
export function applyGroup(ctx: ServiceContext, node: number, chain: Chain, side: number, j: number, load: number, client: number): void {
  groupFits(ctx, node, chain, side, j);
  ctx.snapshot.adjustNode(node, dCpu, dMem, dGpu, load);
  const key = groupKey(ctx, node, chain.index, side);
  let g = ctx.groups.get(key);
  if (!g) {
    g = side === SIDE_HEAD
      ? { node, chain: chain.index, side, from: 1, to: j, load: 0, clients: [] }
      : { node, chain: chain.index, side, from: j + 1, to: chain.length, load: 0, clients: [] };
    ctx.groups.set(key, g);
    ctx.newTasksOn.set(node, (ctx.newTasksOn.get(node) ?? 0) + 1);
  } else if (side === SIDE_HEAD) g.to = Math.max(g.to, j);
  else g.from = Math.min(g.from, j + 1);
  g.load += load;
  g.clients.push(client);
}

const tmpPath: NetworkPath = { bandwidthMbps: 0, rttMs: 0, hops: 0 };

/** 8·D/(B·1000) inline: crossing no link is free, a dead link never delivers. */
function ser(bytes: number, bw: number): number {
  return bw === Infinity ? 0 : bw > 0 ? (8 * bytes) / (bw * 1000) : Infinity;
}

/**
 * Finds the best feasible option for one client over every candidate chain, server and split
 * (design.md §5), writing it into `best` (best.chain = -1 when there is none) and the reasons
 * options were eliminated into `diag`. Checks run cheapest first; resources and load are checked
 * only for options that would beat the current best, which cannot change the optimum.
 */
export function evaluateClient(ctx: ServiceContext, client: number, best: PlanOption, diag: ClientDiagnostics): void {
  const { snapshot, servers, serverIsCloud, objective, privacy, arch, rps } = ctx;
  const nodes = snapshot.nodes;
  const cl = nodes[client]!;
  const transmitW = cl.power.transmitW;
  const clientOk = snapshot.schedulable[client] === 1;
  const slo = ctx.sloLatencyMs;
  const maxEn = ctx.maxDeviceEnergyMj;
  const mo = ctx.measuredOptions?.get(client);
  const m = servers.length;
  const bw = snapshot.scratch("isvc.bw", m);
  const rtt = snapshot.scratch("isvc.rtt", m);
  for (let k = 0; k < m; k++) {
    if (pathInto(snapshot, client, servers[k]!, tmpPath)) {
      bw[k] = tmpPath.bandwidthMbps;
      rtt[k] = tmpPath.rttMs;
    } else bw[k] = -1;
  }
  // Edge-cloud needs the client's edge parent among the candidate servers and a cloud server
  // beyond it; the paths do not depend on the chain, so they are found once per client.
  let edge = -1;
  let upBw = 0;
  let upRtt = 0;
  let anyCloud = false;
  const ecBw = snapshot.scratch("isvc.ecbw", m);
  const ecRtt = snapshot.scratch("isvc.ecrtt", m);
  const p = cl.parentIndex;
  if ((arch < 0 || arch === ARCH_EDGE_CLOUD) && p >= 0 && nodes[p]!.tier === "edge" && ctx.serverRankOf.has(p)) {
    edge = p;
    pathInto(snapshot, client, edge, tmpPath);
    upBw = tmpPath.bandwidthMbps;
    upRtt = tmpPath.rttMs;
    for (let k = 0; k < m; k++) {
      const s = servers[k]!;
      if (serverIsCloud[k] !== 1 || s === client || s === edge) {
        ecBw[k] = -2;
        continue;
      }
      anyCloud = true;
      if (pathInto(snapshot, edge, s, tmpPath)) {
        ecBw[k] = tmpPath.bandwidthMbps;
        ecRtt[k] = tmpPath.rttMs;
      } else ecBw[k] = -1;
    }
  }
  best.chain = -1;
  diag.reasons = 0;
  diag.fastestLatencyMs = Infinity;
  diag.lowestEnergyMj = Infinity;
  let archMatched = false;
  let reasons = 0;

  for (const chain of ctx.chains) {
    const n = chain.length;
    const D = chain.splitBytes;
    const acc = chain.accuracy;
    const vr = ctx.variantRank[chain.index]!;
    const tc = timingOn(ctx, chain, cl);
    const cT = tc.prefixT;
    const cE = tc.prefixE;

    if (arch < 0 || arch === ARCH_DEVICE) {
      archMatched = true;
      const lat = cT[n]!;
      const en = cE[n]!;
      if (!(lat < Infinity)) reasons |= R_COMPUTE;
      else if (!clientOk) reasons |= R_RESOURCES;
      else {
        if (lat < diag.fastestLatencyMs) diag.fastestLatencyMs = lat;
        if (en < diag.lowestEnergyMj) diag.lowestEnergyMj = en;
        if (!withinLimit(lat, slo) || !withinLimit(en, maxEn)) reasons |= R_SLO;
        else {
          const ranked = mo === undefined ? lat : rankedMs(mo, chain.index, n, ARCH_DEVICE, -1, client, lat);
          if (isBetter(objective, ranked, en, acc, n, -1, vr, -1, chain.index, best)) {
            if (!groupFits(ctx, client, chain, SIDE_HEAD, n)) reasons |= R_RESOURCES;
            else set(best, chain.index, n, ARCH_DEVICE, -1, client, ranked, lat, en, acc, 0, -1, vr, -1);
          }
        }
      }
    }

    for (let k = 0; k < m; k++) {
      const s = servers[k]!;
      if (s === client) continue;
      const cloud = serverIsCloud[k] === 1;
      const want0 = arch < 0 || arch === (cloud ? ARCH_CLOUD : ARCH_EDGE);
      const wantSplit = arch < 0 || arch === (cloud ? ARCH_CLOUD_DEVICE : ARCH_EDGE_DEVICE);
      if (!want0 && !wantSplit) continue;
      archMatched = true;
      const b = bw[k]!;
      if (b < 0) {
        reasons |= R_NETWORK;
        continue;
      }
      const r = rtt[k]!;
      const sT = timingOn(ctx, chain, nodes[s]!).suffixT;
      const jFrom = want0 ? 0 : 1;
      const jTo = wantSplit ? n - 1 : 0;
      for (let j = jFrom; j <= jTo; j++) {
        if (j === 0 && (privacy === PRIVACY_DEVICE || (privacy === PRIVACY_EDGE && cloud))) {
          reasons |= R_PRIVACY;
          continue;
        }
        const wire = ser(D[j]!, b);
        const lat = cT[j]! + (wire + r) + sT[j]!;
        if (!(lat < Infinity)) {
          reasons |= wire === Infinity ? R_NETWORK : R_COMPUTE;
          continue;
        }
        const en = cE[j]! + transmitW * wire;
        if (lat < diag.fastestLatencyMs) diag.fastestLatencyMs = lat;
        if (en < diag.lowestEnergyMj) diag.lowestEnergyMj = en;
        if (!withinLimit(lat, slo) || !withinLimit(en, maxEn)) {
          reasons |= R_SLO;
          continue;
        }
        const optArch = j === 0 ? (cloud ? ARCH_CLOUD : ARCH_EDGE) : cloud ? ARCH_CLOUD_DEVICE : ARCH_EDGE_DEVICE;
        const ranked = mo === undefined ? lat : rankedMs(mo, chain.index, j, optArch, s, j === 0 ? -1 : client, lat);
        if (!isBetter(objective, ranked, en, acc, j, k, vr, -1, chain.index, best)) continue;
        if ((j > 0 && !(clientOk && groupFits(ctx, client, chain, SIDE_HEAD, j))) || !groupFits(ctx, s, chain, SIDE_TAIL, j)) {
          reasons |= R_RESOURCES;
          continue;
        }
        if (!snapshot.fitsLoad(s, (rps * sT[j]!) / 1000)) {
          reasons |= R_LOAD;
          continue;
        }
        set(best, chain.index, j, optArch, s, j === 0 ? -1 : client, ranked, lat, en, acc, D[j]!, k, vr, -1);
      }
    }

    if (anyCloud && n >= 2) {
      archMatched = true;
      reasons |= evaluateEdgeCloud(ctx, client, edge, upBw, upRtt, ecBw, ecRtt, chain, vr, transmitW, best, diag);
    }
  }
  if (!archMatched && ctx.chains.length > 0) reasons |= R_ARCHITECTURE;
  diag.reasons = reasons;
}

/**
 * Edge-cloud (1 ≤ j < N): the client uploads the input to its edge parent, which runs 1..j; a
 * cloud server runs the rest. Latency = upload(D_0) + Σ_{i≤j} Te + transfer(D_j, edge→cloud) +
 * Σ_{i>j} Tcloud; device energy = transmitW · upload time (which, as design.md §5 defines upload,
 * includes the RTT); uplinkBytes = D_0. The edge's work counts towards its load as a tail's does.
 */
function evaluateEdgeCloud(
  ctx: ServiceContext,
  client: number,
  edge: number,
  upBw: number,
  upRtt: number,
  ecBw: Float64Array,
  ecRtt: Float64Array,
  chain: Chain,
  vr: number,
  transmitW: number,
  best: PlanOption,
  diag: ClientDiagnostics,
): number {
  const { snapshot, servers, objective, rps } = ctx;
  const nodes = snapshot.nodes;
  const m = servers.length;
  if (ctx.privacy === PRIVACY_DEVICE) return R_PRIVACY;
  const upload = ser(chain.splitBytes[0]!, upBw) + upRtt;
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
      const wire = ser(D[j]!, b);
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
        reasons |= R_RESOURCES;
        continue;
      }
      if (!snapshot.fitsLoad(edge, (rps * eT[j]!) / 1000) || !snapshot.fitsLoad(s, (rps * sT[j]!) / 1000)) {
        reasons |= R_LOAD;
        continue;
      }
      set(best, chain.index, j, ARCH_EDGE_CLOUD, s, edge, ranked, lat, en, chain.accuracy, D[0]!, k, vr, headRank);
    }
  }
  return reasons;
}

function set(
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
