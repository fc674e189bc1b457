import { createHash, randomBytes } from "node:crypto";
import { TRAINING_ENV, type GossipNeighbours, type TrainingJobSpec, type TrainingPlan, type TrainingTaskConfig } from "@eiaas/api";
import type { PlannedTask } from "@eiaas/scheduling";

/**
 * The env of each task of a job that really trains (`spec.training`), by planned task key: the
 * job's config for all and a fresh bearer token for each participant. Federated: each participant
 * also gets its aggregator's Task name, the aggregator the tokens' SHA-256 only. Gossip: each peer
 * gets, per neighbour the plan gives it, the neighbour's Task name and its token's SHA-256. A
 * participant can then speak for itself alone, and whoever reads another task (or its queue job)
 * learns no token.
 */
export function trainingEnv(
  jobUid: string,
  spec: TrainingJobSpec,
  plan: TrainingPlan,
  tasks: readonly PlannedTask[],
  nameOf: (task: PlannedTask) => string,
): Map<string, Record<string, string>> | undefined {
  if (!spec.training || spec.mode === "centralized") return undefined;
  const aggregator = tasks.find((t) => t.role === "aggregator");
  if (spec.mode === "federated" && !aggregator) return undefined;
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
    ...(spec.mode === "gossip" ? { mode: "gossip" as const, peers: plan.peers ?? {} } : {}),
  };
  const json = JSON.stringify(config);
  const out = new Map<string, Record<string, string>>();
  const participants = tasks.filter((t) => t.role === "participant");
  const tokens = new Map(participants.map((t) => [t.node, randomBytes(24).toString("base64url")]));
  const digest = (node: string) => createHash("sha256").update(tokens.get(node)!).digest("hex");
  if (spec.mode === "gossip") {
    const byNode = new Map(participants.map((t) => [t.node, t]));
    for (const t of participants) {
      const neighbours: GossipNeighbours = {};
      for (const n of plan.peers?.[t.node] ?? []) {
        const peer = byNode.get(n);
        if (peer) neighbours[n] = { task: nameOf(peer), key: digest(n) };
      }
      out.set(t.key, { [TRAINING_ENV.config]: json, [TRAINING_ENV.token]: tokens.get(t.node)!, [TRAINING_ENV.neighbours]: JSON.stringify(neighbours) });
    }
    return out;
  }
  const keys: Record<string, string> = {};
  for (const t of participants) {
    keys[t.node] = digest(t.node);
    out.set(t.key, { [TRAINING_ENV.config]: json, [TRAINING_ENV.aggregatorTask]: nameOf(aggregator!), [TRAINING_ENV.token]: tokens.get(t.node)! });
  }
  out.set(aggregator!.key, { [TRAINING_ENV.config]: json, [TRAINING_ENV.keys]: JSON.stringify(keys) });
  return out;
}
