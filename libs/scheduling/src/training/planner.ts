import { type ModelSpec, type TrainingJobSpec, type TrainingPlan } from "@eiaas/api";
import { feasibleNodes, filterNode, reserveTask } from "../framework/schedule.js";
import type { ReasonCount, SchedulingProfile, TaskRequest } from "../framework/types.js";
import { fmt } from "../inference/messages.js";
import type { PlannedTask } from "../inference/types.js";
import { pathInto, transferMs, type NetworkPath } from "../snapshot/network.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import { effectivePriority } from "../tenancy/fair-share.js";
import { quotaExceeded, quotaMessage } from "../tenancy/quota.js";
import { gossipPeers } from "./gossip.js";
import { optimalLocalSteps } from "./local-steps.js";

/** What the planner needs of a TrainingJob. */
export interface TrainingJobInput {
  metadata: { name: string; namespace?: string };
  spec: TrainingJobSpec;
}

export type TrainingReason = "model" | "participants" | "budget" | "privacy" | "resources" | "network" | "quota";

export type TrainingPlanResult =
  | {
      status: "Scheduled";
      /** `participants` are the nodes running training tasks: data nodes, or the centralized trainer. */
      plan: TrainingPlan;
      tasks: PlannedTask[];
      message: string;
    }
  | { status: "Unschedulable"; reasons: TrainingReason[]; message: string };

export interface PlanTrainingOptions {
  /** Default: `defaultProfile()`. */
  profile?: SchedulingProfile;
  /** Keep reservations when placed (default true); false for dry runs. */
  reserve?: boolean;
}

/**
 * Plans a TrainingJob (design.md §5). centralized: one trainer on the edge/cloud node the privacy
 * boundary allows that minimises the slowest data node's upload. federated: one participant per
 * placeable data node (fastest uplinks first, then names, up to `max`; fewer than `min` fails the
 * gang) and an aggregator minimising the slowest participant's model upload. gossip: participants
 * as federated, no aggregator, a ring-plus-chords peer graph. Every task asks for the job's
 * `resources` plus the model's memory.
 */
export function planTraining(
  snapshot: Snapshot,
  job: TrainingJobInput,
  model: ModelSpec | undefined,
  options: PlanTrainingOptions = {},
): TrainingPlanResult {
  const spec = job.spec;
  const namespace = job.metadata.namespace ?? "default";
  if (!model) return fail("model", `model "${spec.model}" not found in namespace "${namespace}"`);
  const modelMiB = model.layers.reduce((s, l) => s + l.memoryMiB, 0);
  const modelBytes = modelMiB * 2 ** 20;
  // Capped by the tenant: the tasks carry it (their annotation), and preemption reads it from them.
  const priority = effectivePriority(snapshot, { namespace, priority: spec.priority });
  const base: Omit<TaskRequest, "role"> = {
    tenant: namespace,
    priority,
    resources: { cpu: spec.resources.cpu, memoryMiB: spec.resources.memoryMiB + modelMiB, gpu: spec.resources.gpu },
    nodeSelector: spec.nodeSelector,
    tolerations: spec.tolerations,
  };
  const dataNodes = snapshot.selectNodes(spec.data.selector);
  if (dataNodes.length === 0) return fail("participants", "no node matches spec.data.selector");

  let localSteps: number | undefined;
  if (spec.mode !== "centralized") {
    const ls = spec.aggregation.localSteps;
    if (ls === "auto") {
      const r = optimalLocalSteps(spec.aggregation.estimates, spec.aggregation.budget.seconds, spec.aggregation.maxLocalSteps);
      // Real training measures ρ, β, δ and the costs itself and adapts τ each round: without
      // estimates it starts at τ = 1 (Wang et al.'s τ₀); a simulated job has only the estimates.
      if (r.status === "ok") localSteps = r.localSteps;
      else if (spec.training) localSteps = 1;
      else return fail("budget", r.message);
    } else localSteps = ls;
  }

  const mark = snapshot.mark();
  const tasks: PlannedTask[] = [];
  const place = (role: PlannedTask["role"], node: number, req: TaskRequest) => {
    reserveTask(snapshot, req, node, { name: `${job.metadata.name}/${role}/${snapshot.nodes[node]!.name}`, owner: `TrainingJob/${job.metadata.name}` });
    tasks.push(plannedTask(role, snapshot.nodes[node]!.name, req, priority));
  };
  const abort = (reason: TrainingReason, message: string): TrainingPlanResult => {
    snapshot.rollback(mark);
    return fail(reason, message);
  };

  let plan: TrainingPlan;
  if (spec.mode === "centralized") {
    const ready = dataNodes.filter((i) => snapshot.nodes[i]!.ready);
    if (ready.length === 0) return abort("participants", "no Ready node matches spec.data.selector");
    const req: TaskRequest = {
      ...base,
      role: "trainer",
      tiers: ["edge", "cloud"],
      rawData: { from: ready.map((i) => snapshot.nodes[i]!.name), boundary: spec.privacy.rawDataBoundary },
      origins: { nodes: ready.map((i) => snapshot.nodes[i]!.name), bytes: spec.data.sizeBytes ?? 0 },
    };
    const pick = nearestServer(snapshot, req, ready, spec.data.sizeBytes, options.profile);
    if (typeof pick !== "number") return abort(pick.reason, `no node can host the trainer: ${pick.message}`);
    place("trainer", pick, req);
    plan = { participants: [snapshot.nodes[pick]!.name] };
  } else {
    const req: TaskRequest = { ...base, role: "participant" };
    const placeable: number[] = [];
    const refused: string[] = [];
    for (const i of dataNodes) {
      const why = filterNode(snapshot, { ...req, dataNodes: [snapshot.nodes[i]!.name] }, i, { profile: options.profile });
      if (why === undefined) placeable.push(i);
      else refused.push(`${snapshot.nodes[i]!.name}: ${why}`);
    }
    const nodes = snapshot.nodes;
    placeable.sort((a, b) => nodes[b]!.network.uplinkMbps - nodes[a]!.network.uplinkMbps || a - b);
    const chosen = placeable.slice(0, spec.participants.max ?? placeable.length);
    if (chosen.length < spec.participants.min) {
      const detail = refused.length > 0 ? `; ${refused.join("; ")}` : "";
      return abort("participants", `${chosen.length} data node(s) can take part, need at least ${spec.participants.min} (participants.min)${detail}`);
    }
    chosen.sort((a, b) => a - b);
    for (const i of chosen) place("participant", i, req);
    const names = chosen.map((i) => nodes[i]!.name);
    plan = { participants: names };
    if (spec.mode === "federated") {
      const aggReq: TaskRequest = { ...base, role: "aggregator", tiers: ["edge", "cloud"], origins: { nodes: names, bytes: modelBytes } };
      const pick = nearestServer(snapshot, aggReq, chosen, modelBytes, options.profile);
      if (typeof pick !== "number") return abort(pick.reason, `no node can host the aggregator: ${pick.message}`);
      place("aggregator", pick, aggReq);
      plan.aggregator = nodes[pick]!.name;
    } else plan.peers = gossipPeers(names);
    plan.localSteps = localSteps;
  }

  // Tasks were reserved as they were placed (the aggregator must see the participants), so the
  // tenant's usage now includes the whole job: compare it with the quota as it stands.
  if (quotaExceeded(snapshot, namespace, { cpu: 0, memoryMiB: 0, gpu: 0 }, 0).length > 0) {
    snapshot.rollback(mark);
    const total = { cpu: 0, memoryMiB: 0, gpu: 0 };
    for (const t of tasks) {
      total.cpu += t.resources.cpu;
      total.memoryMiB += t.resources.memoryMiB;
      total.gpu += t.resources.gpu;
    }
    return fail("quota", quotaMessage(snapshot, namespace, total, tasks.length, quotaExceeded(snapshot, namespace, total, tasks.length)));
  }
  if (options.reserve === false) snapshot.rollback(mark);
  return { status: "Scheduled", plan, tasks, message: scheduledMessage(spec, plan) };
}

/**
 * The feasible edge/cloud node minimising the slowest origin's transfer of `bytes`
 * (8·D/(B·1000) + RTT); without a size, the nearest: smallest worst RTT, then fewest hops. Ties go
 * to the node name.
 */
function nearestServer(
  snapshot: Snapshot,
  req: TaskRequest,
  origins: readonly number[],
  bytes: number | undefined,
  profile: SchedulingProfile | undefined,
): number | { reason: TrainingReason; message: string } {
  const { nodes: candidates, reasons } = feasibleNodes(snapshot, req, { profile });
  if (candidates.length === 0) return { reason: classify(reasons), message: reasons.map((r) => `${r.count} ${r.reason}`).join(", ") || "no nodes" };
  const path: NetworkPath = { bandwidthMbps: 0, rttMs: 0, hops: 0 };
  let best = -1;
  let bestCost = Infinity;
  let bestHops = Infinity;
  for (const c of candidates) {
    let cost = 0;
    let hops = 0;
    for (const o of origins) {
      if (!pathInto(snapshot, o, c, path)) {
        cost = Infinity;
        break;
      }
      const t = transferMs(bytes ?? 0, path.bandwidthMbps, path.rttMs);
      if (t > cost) cost = t;
      if (path.hops > hops) hops = path.hops;
    }
    if (!(cost < Infinity)) continue;
    const tieHops = bytes === undefined;
    if (best < 0 || (cost < bestCost && !approx(cost, bestCost)) || (approx(cost, bestCost) && tieHops && hops < bestHops)) {
      best = c;
      bestCost = cost;
      bestHops = hops;
    }
  }
  if (best < 0) return { reason: "network", message: "every candidate is unreachable or behind a zero-bandwidth link" };
  return best;
}

function approx(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

function classify(reasons: readonly ReasonCount[]): TrainingReason {
  if (reasons.some((r) => r.reason.includes("privacy boundary"))) return "privacy";
  if (reasons.length > 0 && reasons.every((r) => r.reason.includes("unreachable"))) return "network";
  return "resources";
}

function plannedTask(role: PlannedTask["role"], node: string, req: TaskRequest, priority: number): PlannedTask {
  return {
    role,
    node,
    key: `${role}/${node}`,
    resources: { ...req.resources },
    load: 0,
    clients: [],
    priority,
  };
}

function fail(reason: TrainingReason, message: string): TrainingPlanResult {
  return { status: "Unschedulable", reasons: [reason], message: `${reason}: ${message}` };
}

function scheduledMessage(spec: TrainingJobSpec, plan: TrainingPlan): string {
  if (spec.mode === "centralized") return `centralized: trainer on ${plan.participants[0]}`;
  let msg = `${spec.mode}: ${plan.participants.length} participant(s)`;
  if (plan.aggregator) msg += `, aggregator ${plan.aggregator}`;
  if (plan.localSteps !== undefined) msg += `, ${fmt(plan.localSteps)} local step(s) per round`;
  return msg;
}
