import { createHash, randomBytes } from "node:crypto";
import { TRAINING_ENV, type TrainingJobSpec, type TrainingPlan, type TrainingTaskConfig } from "@eiaas/api";
import type { PlannedTask } from "@eiaas/scheduling";

/**
 * The env of each task of a federated job that really trains (`spec.training`), by planned task
 * key: the job's config for all; for each participant its aggregator's Task name and a fresh
 * bearer token; for the aggregator the tokens' SHA-256 only. A participant can then speak for
 * itself alone, and whoever reads the aggregator's Task (or its queue job) learns no token.
 */
export function trainingEnv(
  jobUid: string,
  spec: TrainingJobSpec,
  plan: TrainingPlan,
  tasks: readonly PlannedTask[],
  aggregatorTaskName: string | undefined,
): Map<string, Record<string, string>> | undefined {
  if (!spec.training || spec.mode !== "federated" || !aggregatorTaskName) return undefined;
  const c = spec.compression;
  const config: TrainingTaskConfig = {
    seed: jobUid,
    training: spec.training,
    rounds: spec.rounds,
    localSteps: spec.aggregation.localSteps,
    tau0: plan.localSteps ?? 1,
    maxLocalSteps: spec.aggregation.maxLocalSteps,
    ...(spec.aggregation.budget.seconds !== undefined ? { budgetSeconds: spec.aggregation.budget.seconds } : {}),
    ...(spec.aggregation.estimates.phi !== undefined ? { phi: spec.aggregation.estimates.phi } : {}),
    compression: c.type === "topk" ? { type: "topk", ratio: c.ratio ?? 0.1 } : c.type === "quantize" ? { type: "int8" } : { type: "none" },
    participants: plan.participants,
    minParticipants: Math.min(spec.participants.min, plan.participants.length),
  };
  const json = JSON.stringify(config);
  const out = new Map<string, Record<string, string>>();
  const keys: Record<string, string> = {};
  for (const t of tasks) {
    if (t.role !== "participant") continue;
    const token = randomBytes(24).toString("base64url");
    keys[t.node] = createHash("sha256").update(token).digest("hex");
    out.set(t.key, { [TRAINING_ENV.config]: json, [TRAINING_ENV.aggregatorTask]: aggregatorTaskName, [TRAINING_ENV.token]: token });
  }
  for (const t of tasks) {
    if (t.role === "aggregator") out.set(t.key, { [TRAINING_ENV.config]: json, [TRAINING_ENV.keys]: JSON.stringify(keys) });
  }
  return out;
}
