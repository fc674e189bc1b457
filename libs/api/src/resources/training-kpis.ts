import { z } from "zod";

const nonneg = z.number().nonnegative();

/** How many rounds' KPIs a status keeps (the oldest go first): bounds the object and each report. */
export const TRAINING_HISTORY_ROUNDS = 120;

/**
 * One round of real training, as its aggregator measured it. `loss` is the global training loss
 * (sample-weighted, each participant on its own shard) of the model the round started from;
 * `accuracy` and `testLoss` are of the model the round produced, on the job's held-out split.
 */
export const trainingRound = z.strictObject({
  round: z.number().int().nonnegative(),
  /** Local steps each participant ran this round. */
  tau: z.number().int().nonnegative(),
  loss: nonneg.optional(),
  testLoss: nonneg.optional(),
  accuracy: z.number().min(0).max(1).optional(),
  /** Bytes of updates the participants sent (bodies as they crossed the wire). */
  bytesUp: nonneg,
  /** Bytes of the global model sent to participants. */
  bytesDown: nonneg,
  /** From the round's publication to its aggregation. */
  wallSeconds: nonneg,
  /** The participants' estimated energy: their node's compute and transmit power × their measured time. */
  energyJoules: nonneg.optional(),
  /** Participants whose update counted. */
  participants: z.number().int().nonnegative(),
  /** Participants left out: dead, or past the round's deadline. */
  missed: z.array(z.string()).optional(),
  /** From this round's last counted update to the next round's publication (the control plane's share). */
  overheadMs: nonneg.optional(),
});
export type TrainingRound = z.infer<typeof trainingRound>;

/** A training job's progress: the latest values and the last rounds (at most {@link TRAINING_HISTORY_ROUNDS}). */
export const trainingProgress = z.strictObject({
  round: z.number().int().nonnegative(),
  tau: z.number().int().nonnegative().optional(),
  loss: nonneg.optional(),
  accuracy: z.number().min(0).max(1).optional(),
  /** Totals since round 1. */
  bytesUp: nonneg.optional(),
  bytesDown: nonneg.optional(),
  /** Seconds of the resource budget used (rounds' wall time). */
  budgetUsedSeconds: nonneg.optional(),
  /** Set once training ended: RoundsDone, TargetLoss, BudgetExhausted. */
  stoppedBecause: z.string().optional(),
  /** Round the aggregator resumed from after a restart (its last checkpoint). */
  resumedFrom: z.number().int().nonnegative().optional(),
  history: z.array(trainingRound).max(TRAINING_HISTORY_ROUNDS).optional(),
});
export type TrainingProgress = z.infer<typeof trainingProgress>;
