import { z } from "zod";
import { trainingConfig } from "./resources/trainingjob.js";

/** Env of training tasks (set by the scheduler from the job's spec and plan). */
export const TRAINING_ENV = {
  /** JSON {@link TrainingTaskConfig}: the same for every task of a plan. */
  config: "EIAAS_TRAINING",
  /** A participant's: the name of its aggregator's Task (whose `status.endpoint` it sends to). */
  aggregatorTask: "EIAAS_TRAINING_AGGREGATOR_TASK",
  /** A participant's: its bearer token for the aggregator. */
  token: "EIAAS_TRAINING_TOKEN",
  /** The aggregator's: JSON map of participant node name → SHA-256 (hex) of its token. */
  keys: "EIAAS_TRAINING_KEYS",
  /**
   * A gossip peer's: JSON map of each neighbour's node name → `{ task, key }`: the neighbour's Task
   * name (whose `status.endpoint` it pushes its model to) and the SHA-256 (hex) of the neighbour's
   * token (which it accepts pushes with). Its own token is {@link TRAINING_ENV.token}.
   */
  neighbours: "EIAAS_TRAINING_NEIGHBOURS",
} as const;

/** A gossip peer's neighbours ({@link TRAINING_ENV.neighbours}), checked where it is read. */
export const gossipNeighbours = z.record(z.string().min(1), z.strictObject({ task: z.string().min(1), key: z.string().regex(/^[0-9a-f]{64}$/) }));
export type GossipNeighbours = z.infer<typeof gossipNeighbours>;

/** What every task of a training job is told (env {@link TRAINING_ENV.config}). */
export const trainingTaskConfig = z.strictObject({
  /** The job's uid: the seed of every shard, the held-out split and the initial model; the checkpoint's key. */
  seed: z.string().min(1),
  training: trainingConfig,
  rounds: z.number().int().min(1),
  /** "auto": adaptive (Wang et al.); else fixed τ. */
  localSteps: z.union([z.number().int().min(1), z.literal("auto")]),
  /** τ of the first round (the plan's). */
  tau0: z.number().int().min(1),
  maxLocalSteps: z.number().int().min(1),
  budgetSeconds: z.number().positive().optional(),
  /** φ of the τ control. */
  phi: z.number().positive().optional(),
  compression: z.union([z.strictObject({ type: z.literal("none") }), z.strictObject({ type: z.literal("topk"), ratio: z.number().positive().max(1) }), z.strictObject({ type: z.literal("int8") })]),
  /** The plan's participants (node names): the aggregator waits for these each round. */
  participants: z.array(z.string()).min(1),
  /** Fewest updates a round needs to close at its deadline. */
  minParticipants: z.number().int().min(1),
  /** federated (an aggregator) or gossip (peers average with their neighbours). Absent: federated. */
  mode: z.enum(["federated", "gossip"]).optional(),
  /** Gossip: the plan's peer graph (node → neighbours), every peer's degree for the mixing weights. */
  peers: z.record(z.string(), z.array(z.string())).optional(),
});
export type TrainingTaskConfig = z.infer<typeof trainingTaskConfig>;
