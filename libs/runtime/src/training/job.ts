import { trainingTaskConfig, type TrainingTaskConfig } from "@eiaas/api";
import { createModel, SYNTHETIC_CLASSES, SYNTHETIC_FEATURES, type Model, type SyntheticSpec } from "@eiaas/training";

/** What both ends of a training job derive from its config. */
export interface TrainingJobView {
  config: TrainingTaskConfig;
  model: Model;
  data: SyntheticSpec;
  adaptive: boolean;
}

/** Parses the task's config env (the control plane's, still checked: a bad one fails the task, not the agent). */
export function jobFromEnv(raw: string | undefined): TrainingJobView {
  if (!raw) throw new Error("the task has no training config (EIAAS_TRAINING)");
  const config = trainingTaskConfig.parse(JSON.parse(raw));
  const t = config.training;
  return {
    config,
    model: createModel({ kind: t.model, features: SYNTHETIC_FEATURES, classes: SYNTHETIC_CLASSES, hidden: t.hidden }),
    data: { name: t.dataset.name, alpha: t.dataset.alpha, beta: t.dataset.beta, seed: config.seed, maxSamples: t.dataset.maxSamplesPerParticipant },
    adaptive: config.localSteps === "auto",
  };
}

/** Node facts the runtime uses for energy estimates (the node's power model and uplink). */
export interface NodePower {
  computeW: number;
  transmitW: number;
  uplinkMbps: number;
}
