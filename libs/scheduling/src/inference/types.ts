import type { ClientPlan, InferenceServiceSpec, TaskRole } from "@eiaas/api";
import type { ResourceVector } from "../snapshot/types.js";
import type { UnschedulableCode } from "../framework/status.js";
import type { InferenceReason } from "./options.js";

/** What the planner needs of an InferenceService. */
export interface InferenceServiceInput {
  metadata: { name: string; namespace?: string };
  spec: InferenceServiceSpec;
}

/**
 * A task the scheduler should create and bind (the Pod analogue). Inference tasks are shared:
 * one per (node, chain, side) per service; see `TaskGroup`.
 */
export interface PlannedTask {
  /** `serve` runs the whole chain, `head` layers 1..to, `tail` layers from..N; trainers, participants, aggregators. */
  role: TaskRole;
  node: string;
  /** Stable within the workload: `role/node[/variant/exitAfterLayer]`, for naming and diffing. */
  key: string;
  /** Inference only: the chain the layers refer to. */
  variant?: string;
  exitAfterLayer?: number;
  /** Inference only: chain layers run (1-based, inclusive; the exit head is layer N). */
  layers?: { from: number; to: number };
  /** The request on the node: the workload's `resources` plus the memory of the layers it runs. */
  resources: ResourceVector;
  /** Busy fraction it adds to the node: the Task's `spec.load`. */
  load: number;
  /** Inference: the clients it serves; training: empty. */
  clients: string[];
  /** The workload's priority: the Task's `spec.priority`. */
  priority: number;
}

export interface InferenceFailure {
  /** The client that could not be placed; absent for service-wide problems. */
  client?: string;
  reasons: InferenceReason[];
  /** `client dev-1: slo (fastest plan 134 ms > 100 ms)` */
  message: string;
}

export type InferencePlan =
  | {
      status: "Scheduled";
      /** One per placed client, in client name order. */
      clients: ClientPlan[];
      tasks: PlannedTask[];
      /** Clients matching the selector but not Ready (not planned; re-planned when they return). */
      skippedClients: string[];
      message: string;
    }
  | {
      status: "Unschedulable";
      /** Whether evicting tasks could help: `Unschedulable` when every failed client lacked room alone (see `framework/status.ts`). */
      code: UnschedulableCode;
      failures: InferenceFailure[];
      message: string;
      skippedClients: string[];
    };

export type { InferenceReason };
