import { z } from "zod";
import { condition, dnsSubdomain, priorityValue, resourceRequest, taskTemplate } from "../meta.js";
import { baseStatusShape, objectSchema, type ApiObject } from "./object.js";
import { servingCounts } from "./inferenceservice.js";
import { trainingProgress } from "./training-kpis.js";

export const taskRole = z.enum(["serve", "head", "tail", "participant", "aggregator", "trainer"]);
export type TaskRole = z.infer<typeof taskRole>;

export const taskPhase = z.enum(["Pending", "Scheduled", "Dispatched", "Running", "Succeeded", "Failed"]);
export type TaskPhase = z.infer<typeof taskPhase>;

export const taskSpec = z.strictObject({
  /** The EdgeNode the task is bound to. */
  nodeName: dnsSubdomain.optional(),
  role: taskRole,
  /** Layers of the chain this task runs (1-based, inclusive). */
  layers: z.strictObject({ from: z.number().int().min(0), to: z.number().int().min(0) }).optional(),
  template: taskTemplate.default({}),
  env: z.record(z.string(), z.string()).default({}),
  resources: resourceRequest.default({ cpu: 0, memoryMiB: 0, gpu: 0 }),
  /**
   * The busy fraction the task adds to its node (a server's requests per second × time per
   * request): a node's tasks together stay at most 1, or its GPU count. Absent counts 0.
   */
  load: z.number().nonnegative().optional(),
  /**
   * Its workload's priority, copied when the task is planned (as a Pod's `spec.priority` from its
   * PriorityClass): preemption evicts lower ones first. Absent counts 0.
   */
  priority: priorityValue.optional(),
  /**
   * How long the task is expected to run, in ms (the cost model's prediction for a training task);
   * the simulated runtime runs it that long. Absent: it runs until stopped (servers).
   */
  expectedRunMs: z.number().int().nonnegative().optional(),
});
export type TaskSpec = z.infer<typeof taskSpec>;

export const taskStatus = z.strictObject({
  ...baseStatusShape,
  phase: taskPhase.optional(),
  conditions: z.array(condition).optional(),
  // Kept in an int column (tasks.attempt): a larger one could not be stored.
  attempt: z.number().int().nonnegative().max(2_147_483_647).optional(),
  exitCode: z.number().int().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  endpoint: z.string().optional(),
  startTime: z.string().optional(),
  finishTime: z.string().optional(),
  /** An aggregator's training KPIs (the scheduler folds them into its TrainingJob's status). */
  training: trainingProgress.optional(),
  /** A serving entry's request counts, cache hits and filter skips (folded into its InferenceService's status). */
  serving: servingCounts.optional(),
});
export type TaskStatus = z.infer<typeof taskStatus>;

export const taskObject = objectSchema("Task", taskSpec, taskStatus);
export type Task = ApiObject<TaskSpec, TaskStatus>;

/**
 * `details.causes[].reason` of the 409 Conflict that answers a task status report the task has
 * moved past (an older attempt, an earlier phase, or any report after the attempt finished): the
 * report was not applied, and the task is no longer what its sender runs. Agents stop such a run.
 */
export const TASK_REPORT_SUPERSEDED = "TaskReportSuperseded";

/**
 * Reasons with which the control plane, not the task's agent, ends a task: the node was lost, the
 * task was evicted (drain) or preempted. The agent may still run such a task until it learns of it
 * (a ghost run), so the scheduler counts what it holds while its node still reports it.
 */
export const CONTROL_PLANE_FAILURE_REASONS: ReadonlySet<string> = new Set(["NodeLost", "Evicted", "Preempted"]);
