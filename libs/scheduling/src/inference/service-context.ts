// What one service's planning holds fixed while its clients are planned one by one, and how an
// option's latency is read from it (estimate, or what the client measured).
import type { Chain, ChainTiming } from "../cost/chains.js";
import type { ModelMeasurements } from "../cost/measurements.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import type { ResourceVector, SnapshotNode } from "../snapshot/types.js";

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
export function rankedMs(list: readonly MeasuredOption[] | undefined, chain: number, j: number, arch: number, tail: number, head: number, estimate: number): number {
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
