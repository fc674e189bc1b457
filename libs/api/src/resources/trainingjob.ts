import { z } from "zod";
import { condition, labelSelector, nodeSelector, priorityValue, privacyBoundary, resourceRequest, taskTemplate, toleration } from "../meta.js";
import { baseStatusShape, objectSchema, type ApiObject } from "./object.js";
import { trainingProgress } from "./training-kpis.js";

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

/**
 * What real training runs (the `training` runtime): the data set each participant generates from
 * the job's seed and its node's name, the model, and SGD's settings. A job without it is only
 * planned and simulated.
 */
export const trainingConfig = z.strictObject({
  dataset: z.strictObject({
    /** `synthetic`: FedProx's non-IID Synthetic(α, β); `synthetic-iid`: its IID variant. */
    name: z.enum(["synthetic", "synthetic-iid"]),
    alpha: z.number().min(0).max(100).default(0.5),
    beta: z.number().min(0).max(100).default(0.5),
    /** The largest shard: FedProx's log-normal sizes are cut here. */
    maxSamplesPerParticipant: z.number().int().min(50).max(100_000).default(2000),
  }),
  model: z.enum(["logreg", "mlp"]).default("logreg"),
  /** Hidden units of the MLP. */
  hidden: z.number().int().min(1).max(1024).default(32),
  learningRate: z.number().positive().max(10).default(0.01),
  batchSize: z.number().int().min(1).max(100_000).default(10),
  /** Stop once the global training loss is at most this (besides `rounds` and the budget). */
  targetLoss: z.number().positive().optional(),
  /** A participant whose update has not come this long after the round started is left out of it. */
  roundDeadlineSeconds: z.number().min(0.1).max(3600).default(60),
});
export type TrainingConfig = z.infer<typeof trainingConfig>;

const trainingJobSpecShape = z.strictObject({
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
  training: trainingConfig.optional(),
});

export const trainingJobSpec = trainingJobSpecShape.superRefine((spec, ctx) => {
  const { min, max } = spec.participants;
  if (max !== undefined && max < min) {
    ctx.addIssue({ code: "custom", path: ["participants", "max"], message: `must be at least participants.min (${min})` });
  }
  if (spec.training) refineTraining(spec, ctx);
});

/** What real training cannot run: checked at admission, so a job that cannot train is a 422, not a failure later. */
function refineTraining(spec: z.infer<typeof trainingJobSpecShape>, ctx: z.RefinementCtx): void {
  const { compression, aggregation } = spec;
  if (spec.mode === "centralized") {
    ctx.addIssue({ code: "custom", path: ["training"], message: "real training runs federated and gossip jobs (mode centralized is planned and simulated only)" });
  }
  if (spec.mode === "gossip") {
    // Peers exchange whole models (no aggregator keeps a per-peer residual or estimates ρ, β, δ).
    if (compression.type !== "none") {
      ctx.addIssue({ code: "custom", path: ["compression", "type"], message: "gossip peers exchange whole models: compression applies to federated updates only" });
    }
    if (aggregation.localSteps === "auto") {
      ctx.addIssue({ code: "custom", path: ["aggregation", "localSteps"], message: "adaptive τ needs an aggregator's estimates: gossip takes a fixed number of local steps" });
    }
  }
  if (compression.type === "topk" && !(compression.ratio !== undefined && compression.ratio > 0)) {
    ctx.addIssue({ code: "custom", path: ["compression", "ratio"], message: "top-k needs a ratio in (0, 1]" });
  }
  if (compression.type === "quantize" && compression.bits !== undefined && compression.bits !== 8) {
    ctx.addIssue({ code: "custom", path: ["compression", "bits"], message: "training quantizes updates to 8 bits" });
  }
  const budget = aggregation.budget.seconds;
  if (aggregation.localSteps === "auto" && budget === undefined) {
    ctx.addIssue({ code: "custom", path: ["aggregation", "budget", "seconds"], message: "adaptive τ (localSteps auto) chooses τ under a budget: set one" });
  }
  if (budget !== undefined) {
    // One round: τ₀ local steps and an aggregation, at the estimated costs (0 when not estimated).
    const tau0 = aggregation.localSteps === "auto" ? 1 : aggregation.localSteps;
    const round = tau0 * (aggregation.estimates.localStepSeconds ?? 0) + (aggregation.estimates.aggregationSeconds ?? 0);
    if (!(budget > round)) {
      ctx.addIssue({
        code: "custom",
        path: ["aggregation", "budget", "seconds"],
        message: `a budget of ${budget} s does not fit one round (${tau0} local step(s) and one aggregation: ${round} s estimated)`,
      });
    }
  }
}
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
  /** Real training's KPIs per round, from the aggregator's reports (jobs with `spec.training`). */
  training: trainingProgress.optional(),
});
export type TrainingJobStatus = z.infer<typeof trainingJobStatus>;

export const trainingJobObject = objectSchema("TrainingJob", trainingJobSpec, trainingJobStatus);
export type TrainingJob = ApiObject<TrainingJobSpec, TrainingJobStatus>;
