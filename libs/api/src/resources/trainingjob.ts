import { z } from "zod";
import {
  condition,
  labelSelector,
  nodeSelector,
  priorityValue,
  privacyBoundary,
  resourceRequest,
  taskTemplate,
  toleration,
} from "../meta.js";
import { baseStatusShape, objectSchema, type ApiObject } from "./object.js";

const nonneg = z.number().nonnegative();

/** How long a TrainingJob that lost participants waits for them by default (`spec.participants.lostDeadlineSeconds`). */
export const DEFAULT_LOST_DEADLINE_SECONDS = 300;
/** A week: a longer wait is a job that should be deleted and created again. */
const LOST_DEADLINE_MAX_SECONDS = 7 * 24 * 3600;

export const trainingMode = z.enum(["centralized", "federated", "gossip"]);
export type TrainingMode = z.infer<typeof trainingMode>;

/** Estimates of the learning problem for `localSteps: "auto"` (Wang et al., JSAC 2019). */
export const aggregationEstimates = z.strictObject({
  learningRate: z.number().optional(),
  beta: z.number().optional(),
  delta: z.number().optional(),
  rho: z.number().optional(),
  phi: z.number().optional(),
  localStepSeconds: z.number().optional(),
  aggregationSeconds: z.number().optional(),
});
export type AggregationEstimates = z.infer<typeof aggregationEstimates>;

export const trainingJobSpec = z.strictObject({
  model: z.string().min(1),
  mode: trainingMode,
  data: z.strictObject({
    /** Selects the nodes that hold training data. */
    selector: labelSelector,
    /** Data held per data node, in bytes. */
    sizeBytes: nonneg.optional(),
  }),
  /** For centralized training: how far raw data may travel. */
  privacy: z.strictObject({ rawDataBoundary: privacyBoundary.default("cloud") }).default({ rawDataBoundary: "cloud" }),
  participants: z
    .strictObject({
      min: z.number().int().min(1).default(1),
      max: z.number().int().min(1).optional(),
      /**
       * How long a job that lost participants (their nodes lost, drained, deleted) waits for
       * `min` placeable data nodes before it fails with ParticipantsLost; meanwhile it is
       * re-planned with the nodes that remain or return. Default 300 (5 minutes).
       */
      lostDeadlineSeconds: z.number().int().min(0).max(LOST_DEADLINE_MAX_SECONDS).default(DEFAULT_LOST_DEADLINE_SECONDS),
    })
    .default({ min: 1, lostDeadlineSeconds: DEFAULT_LOST_DEADLINE_SECONDS }),
  /** The maximum number of rounds. */
  rounds: z.number().int().min(1).default(1),
  aggregation: z
    .strictObject({
      localSteps: z.union([z.number().int().min(1), z.literal("auto")]).default(1),
      maxLocalSteps: z.number().int().min(1).default(100),
      budget: z.strictObject({ seconds: nonneg.optional() }).default({}),
      estimates: aggregationEstimates.default({}),
    })
    .default({ localSteps: 1, maxLocalSteps: 100, budget: {}, estimates: {} }),
  compression: z
    .strictObject({
      type: z.enum(["none", "topk", "quantize"]).default("none"),
      ratio: z.number().min(0).max(1).optional(),
      bits: z.number().int().min(1).max(32).optional(),
    })
    .default({ type: "none" }),
  resources: resourceRequest.default({ cpu: 0, memoryMiB: 0, gpu: 0 }),
  nodeSelector: nodeSelector.default({}),
  tolerations: z.array(toleration).default([]),
  priority: priorityValue.default(0),
  template: taskTemplate.default({}),
}).superRefine((spec, ctx) => {
  const { min, max } = spec.participants;
  if (max !== undefined && max < min) {
    ctx.addIssue({ code: "custom", path: ["participants", "max"], message: `must be at least participants.min (${min})` });
  }
});
export type TrainingJobSpec = z.infer<typeof trainingJobSpec>;
export type TrainingJobSpecInput = z.input<typeof trainingJobSpec>;

export const trainingPlan = z.strictObject({
  participants: z.array(z.string()),
  aggregator: z.string().optional(),
  localSteps: z.number().int().optional(),
  peers: z.record(z.string(), z.array(z.string())).optional(),
});
export type TrainingPlan = z.infer<typeof trainingPlan>;

export const trainingJobStatus = z.strictObject({
  ...baseStatusShape,
  phase: z.enum(["Pending", "Scheduled", "Running", "Succeeded", "Failed"]).optional(),
  conditions: z.array(condition).optional(),
  plan: trainingPlan.optional(),
  round: z.number().int().nonnegative().optional(),
  /** Which revision of the plan the Tasks labelled `eiaas.io/plan-revision` belong to (set by the scheduler). */
  planRevision: z.number().int().nonnegative().optional(),
});
export type TrainingJobStatus = z.infer<typeof trainingJobStatus>;

export const trainingJobObject = objectSchema("TrainingJob", trainingJobSpec, trainingJobStatus);
export type TrainingJob = ApiObject<TrainingJobSpec, TrainingJobStatus>;
