import type { NodeTier, PrivacyBoundary, TaskRole, Toleration } from "@eiaas/api";
import type { Snapshot } from "../snapshot/snapshot.js";
import type { ResourceVector } from "../snapshot/types.js";

/** One unit to place on one node (the Pod analogue), as the framework sees it. */
export interface TaskRequest {
  /** For messages. */
  name?: string;
  /** Tenant (namespace). A tenant unknown to the snapshot has no quota. */
  tenant?: string;
  /** Default 0. */
  priority?: number;
  /** Default "serve". */
  role?: TaskRole;
  /** The full request on the node, layer memory included. */
  resources: ResourceVector;
  /** Busy fraction added to the node (ServerLoad). Default 0. */
  load?: number;
  /** Labels the node must carry (NodeSelector). */
  nodeSelector?: Readonly<Record<string, string>>;
  /** Taints the task tolerates (TaintToleration). */
  tolerations?: readonly Toleration[];
  /** Tiers the task may run on (TierPrivacy). Default: any. */
  tiers?: readonly NodeTier[];
  /** Raw data the task receives and how far it may travel (TierPrivacy). */
  rawData?: { from: readonly string[]; boundary: PrivacyBoundary };
  /** The task must run on one of these nodes (DataLocality), e.g. a participant on its data node. */
  dataNodes?: readonly string[];
  /**
   * Nodes that send `bytes` to the task: each must reach the chosen node (DataLocality), and they
   * drive the PredictedLatency and DeviceEnergy scores.
   */
  origins?: { nodes: readonly string[]; bytes: number };
  /** Compute of the task in FLOPs, for PredictedLatency (flops / gflops). */
  flops?: number;
}

/** A filter prepared for one task. */
export interface PreparedFilter {
  /** Why the node fails, in kube-scheduler's wording, or undefined when it passes. */
  reason(nodeIndex: number): string | undefined;
  /**
   * Fast path over many nodes: compacts `nodes[0..count)` in place to those that pass, keeping
   * their order, and returns how many. Must agree with `reason`; when absent, `reason` is used.
   */
  keep?(nodes: Int32Array, count: number): number;
}

/** A Filter plugin: one per file in `plugins/`. */
export interface FilterPlugin {
  readonly name: string;
  /**
   * True when the outcome depends on the node's current allocation (ResourceFit, ServerLoad).
   * Preemption re-checks those itself after removing victims; the inference planner checks them per
   * split, since the request depends on the layers a split puts on the server.
   */
  readonly dependsOnAllocation?: boolean;
  /** Called once per task. Returns undefined when the plugin has nothing to check for this task. */
  prepare(snapshot: Snapshot, task: TaskRequest): PreparedFilter | undefined;
}

/**
 * A score prepared for one task: writes the score of `nodes[k]` into `out[k]` for k < count.
 * Batched so each plugin's loop stays monomorphic and allocation-free.
 */
export type PreparedScore = (nodes: Int32Array, count: number, out: Float64Array) => void;

/** A Score plugin: one per file in `plugins/`. Scores are 0–100 unless the plugin normalises them. */
export interface ScorePlugin {
  readonly name: string;
  /** Called once per task. Returns undefined when the plugin has no opinion on this task. */
  prepare(snapshot: Snapshot, task: TaskRequest): PreparedScore | undefined;
  /** Rewrites raw scores of the feasible nodes (`scores[0..count)`) into 0–100, as kube's NormalizeScore. */
  normalize?(scores: Float64Array, count: number): void;
}

export interface WeightedScorePlugin {
  plugin: ScorePlugin;
  weight: number;
}

/** Which plugins run, with which weights, and how much of the fleet to look at. */
export interface SchedulingProfile {
  filters: readonly FilterPlugin[];
  scores: readonly WeightedScorePlugin[];
  /**
   * Share of the fleet (1–100) to scan for feasible nodes before scoring, as kube-scheduler's
   * percentageOfNodesToScore. 100 (default) scans every node; 0 is kube's adaptive default
   * (50% minus 1% per 125 nodes, at least 5%). Small fleets are always scanned fully.
   */
  percentageOfNodesToScore?: number;
  /** Fewest feasible nodes to find before sampling may stop. Default 100. */
  minFeasibleNodesToFind?: number;
}

export interface ReasonCount {
  reason: string;
  count: number;
}

/** Outcome of placing one task. Internal inconsistencies are thrown as SchedulingError instead. */
export type PlacementResult =
  | {
      status: "Scheduled";
      node: string;
      nodeIndex: number;
      /** Weighted sum of the score plugins. */
      score: number;
      /** Feasible nodes found (the scored set). */
      feasibleNodes: number;
      /** Nodes the filters looked at. */
      evaluatedNodes: number;
      /** Where the next sampled scan should start, so successive tasks spread over the fleet. */
      nextStartIndex: number;
    }
  | {
      status: "Unschedulable";
      /** Why nodes failed, most common first. */
      reasons: ReasonCount[];
      /** `0/5 nodes are available: 3 Insufficient cpu, 2 node(s) were not ready.` */
      message: string;
      evaluatedNodes: number;
      nextStartIndex: number;
    };
