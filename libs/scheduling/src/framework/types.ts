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
  /** Nodes that send the task data (a trainer's data nodes, an aggregator's participants): each must reach the chosen node (DataLocality). */
  origins?: { nodes: readonly string[] };
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
   * True when the outcome depends on the node's current allocation (ResourceFit, ServerLoad). Its
   * refusals are kube-scheduler's `Unschedulable` (evicting tasks could make room); every other
   * filter's are `UnschedulableAndUnresolvable` (see `framework/status.ts`). Preemption re-checks
   * these itself after removing victims; the inference planner checks them per split, since the
   * request depends on the layers a split puts on the server.
   */
  readonly dependsOnAllocation?: boolean;
  /** Called once per task. Returns undefined when the plugin has nothing to check for this task. */
  prepare(snapshot: Snapshot, task: TaskRequest): PreparedFilter | undefined;
}

/** Which filters run: a profile, as kube-scheduler's. */
export interface SchedulingProfile {
  filters: readonly FilterPlugin[];
}

export interface ReasonCount {
  reason: string;
  count: number;
}
