import { type ModelSpec, type TrainingJobSpec, type TrainingPlan } from "@eiaas/api";
import { feasibleNodes, filterNode, passingNodes, reserveTask } from "../framework/filter.js";
import { unschedulableCode, type UnschedulableCode } from "../framework/status.js";
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
  | TrainingUnschedulable;

export interface TrainingUnschedulable {
  status: "Unschedulable";
  /** Whether evicting tasks could help: `Unschedulable` when only room was missing (see `framework/status.ts`). */
  code: UnschedulableCode;
  reasons: TrainingReason[];
  message: string;
}

export interface PlanTrainingOptions {
  /** Default: `defaultProfile()` (every filter). */
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
export function planTraining(snapshot: Snapshot, job: TrainingJobInput, model: ModelSpec | undefined, options: PlanTrainingOptions = {}): TrainingPlanResult {
  const spec = job.spec;
  const namespace = job.metadata.namespace ?? "default";
  if (!model) return fail("model", `model "${spec.model}" not found in namespace "${namespace}"`);
  const modelMiB = model.layers.reduce((s, l) => s + l.memoryMiB, 0);
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
  const localSteps = spec.mode === "centralized" ? undefined : localStepsOf(spec);
  if (typeof localSteps === "object") return localSteps;

  const mark = snapshot.mark();
  const placing: JobPlacement = { snapshot, job, profile: options.profile, base, priority, modelBytes: modelMiB * 2 ** 20, tasks: [] };
  const placed = spec.mode === "centralized" ? placeTrainer(placing, dataNodes) : placeParticipants(placing, dataNodes, localSteps);
  if (placed.status === "Unschedulable") {
    snapshot.rollback(mark);
    return placed;
  }
  const plan = placed.plan;
  const tasks = placing.tasks;
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

/** τ, the local steps per round of federated and gossip training, or why it cannot be chosen. */
function localStepsOf(spec: TrainingJobSpec): number | TrainingUnschedulable {
  const ls = spec.aggregation.localSteps;
  if (ls !== "auto") return ls;
  const r = optimalLocalSteps(spec.aggregation.estimates, spec.aggregation.budget.seconds, spec.aggregation.maxLocalSteps);
  // Real training measures ρ, β, δ and the costs itself and adapts τ each round: without
  // estimates it starts at τ = 1 (Wang et al.'s τ₀); a simulated job has only the estimates.
  if (r.status === "ok") return r.localSteps;
  if (spec.training) return 1;
  return fail("budget", r.message);
}

/** One job's placement in progress: its tasks are reserved in the snapshot as they are placed. */
interface JobPlacement {
  snapshot: Snapshot;
  job: TrainingJobInput;
  profile: SchedulingProfile | undefined;
  base: Omit<TaskRequest, "role">;
  priority: number;
  modelBytes: number;
  tasks: PlannedTask[];
}

type Placed = { status: "Placed"; plan: TrainingPlan } | TrainingUnschedulable;

function place(p: JobPlacement, role: PlannedTask["role"], node: number, req: TaskRequest): void {
  const name = p.snapshot.nodes[node]!.name;
  reserveTask(p.snapshot, req, node, { name: `${p.job.metadata.name}/${role}/${name}`, owner: `TrainingJob/${p.job.metadata.name}` });
  p.tasks.push(plannedTask(role, name, req, p.priority));
}

/** centralized: one trainer on the edge/cloud node nearest the Ready data nodes. */
function placeTrainer(p: JobPlacement, dataNodes: readonly number[]): Placed {
  const { snapshot, job } = p;
  const spec = job.spec;
  const ready = dataNodes.filter((i) => snapshot.nodes[i]!.ready);
  if (ready.length === 0) return fail("participants", "no Ready node matches spec.data.selector");
  const names = ready.map((i) => snapshot.nodes[i]!.name);
  const req: TaskRequest = { ...p.base, role: "trainer", tiers: ["edge", "cloud"], rawData: { from: names, boundary: spec.privacy.rawDataBoundary }, origins: { nodes: names } };
  const pick = nearestServer(snapshot, req, ready, spec.data.sizeBytes, p.profile);
  if (typeof pick !== "number") return fail(pick.reason, `no node can host the trainer: ${pick.message}`, pick.roomOnly);
  place(p, "trainer", pick, req);
  return { status: "Placed", plan: { participants: [snapshot.nodes[pick]!.name] } };
}

/**
 * federated and gossip: one participant per placeable data node (fastest uplinks first, then
 * names, up to `max`; fewer than `min` fails the gang); federated adds the aggregator nearest them.
 */
function placeParticipants(p: JobPlacement, dataNodes: readonly number[], localSteps: number | undefined): Placed {
  const { snapshot } = p;
  const spec = p.job.spec;
  const req: TaskRequest = { ...p.base, role: "participant" };
  const nodes = snapshot.nodes;
  const placeable: number[] = [];
  const refused: string[] = [];
  // Refused for room alone (ResourceFit, ServerLoad): preemption could give these back.
  let roomOnly = 0;
  for (const i of dataNodes) {
    const onData = { ...req, dataNodes: [nodes[i]!.name] };
    const why = filterNode(snapshot, onData, i, { profile: p.profile });
    if (why === undefined) placeable.push(i);
    else {
      refused.push(`${nodes[i]!.name}: ${why}`);
      if (filterNode(snapshot, onData, i, { profile: p.profile, skipAllocationFilters: true }) === undefined) roomOnly++;
    }
  }
  placeable.sort((a, b) => nodes[b]!.network.uplinkMbps - nodes[a]!.network.uplinkMbps || a - b);
  const chosen = placeable.slice(0, spec.participants.max ?? placeable.length);
  if (chosen.length < spec.participants.min) {
    const detail = refused.length > 0 ? `; ${refused.join("; ")}` : "";
    const message = `${chosen.length} data node(s) can take part, need at least ${spec.participants.min} (participants.min)${detail}`;
    return fail("participants", message, chosen.length + roomOnly >= spec.participants.min);
  }
  chosen.sort((a, b) => a - b);
  for (const i of chosen) place(p, "participant", i, req);
  const names = chosen.map((i) => nodes[i]!.name);
  const plan: TrainingPlan = { participants: names };
  if (spec.mode === "federated") {
    const aggReq: TaskRequest = { ...p.base, role: "aggregator", tiers: ["edge", "cloud"], origins: { nodes: names } };
    const pick = nearestServer(snapshot, aggReq, chosen, p.modelBytes, p.profile);
    if (typeof pick !== "number") return fail(pick.reason, `no node can host the aggregator: ${pick.message}`, pick.roomOnly);
    place(p, "aggregator", pick, aggReq);
    plan.aggregator = nodes[pick]!.name;
  } else plan.peers = gossipPeers(names);
  plan.localSteps = localSteps;
  return { status: "Placed", plan };
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
): number | { reason: TrainingReason; message: string; roomOnly: boolean } {
  const { nodes: candidates, reasons } = feasibleNodes(snapshot, req, { profile });
  if (candidates.length === 0) {
    // Nodes refused only by the allocation filters could take it once tasks are evicted.
    const roomOnly = passingNodes(snapshot, req, { profile, skipAllocationFilters: true }).length > 0;
    return { reason: classify(reasons), message: reasons.map((r) => `${r.count} ${r.reason}`).join(", ") || "no nodes", roomOnly };
  }
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
  if (best < 0) return { reason: "network", message: "every candidate is unreachable or behind a zero-bandwidth link", roomOnly: false };
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

/** Not placed; `roomOnly`: only room was missing (code Unschedulable: preemption may help). */
function fail(reason: TrainingReason, message: string, roomOnly = false): TrainingUnschedulable {
  return { status: "Unschedulable", code: unschedulableCode(roomOnly), reasons: [reason], message: `${reason}: ${message}` };
}

function scheduledMessage(spec: TrainingJobSpec, plan: TrainingPlan): string {
  if (spec.mode === "centralized") return `centralized: trainer on ${plan.participants[0]}`;
  let msg = `${spec.mode}: ${plan.participants.length} participant(s)`;
  if (plan.aggregator) msg += `, aggregator ${plan.aggregator}`;
  if (plan.localSteps !== undefined) msg += `, ${fmt(plan.localSteps)} local step(s) per round`;
  return msg;
}
