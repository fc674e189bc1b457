import { type ClientPlan, type MeasuredClientLatency, type ModelSpec } from "@eiaas/api";
import { compileModel, type Chain } from "../cost/chains.js";
import { feasibleNodes, passingNodes } from "../framework/filter.js";
import type { SchedulingProfile, TaskRequest } from "../framework/types.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import { effectivePriority } from "../tenancy/fair-share.js";
import { quotaExceeded, quotaMessage } from "../tenancy/quota.js";
import { evaluateClient } from "./evaluate.js";
import { timingOn, type ClientDiagnostics, type MeasuredOption, type ServiceContext, type TaskGroup } from "./service-context.js";
import { SIDE_HEAD, SIDE_TAIL, applyGroup } from "./task-groups.js";
import { describeClientFailure, fmt } from "./messages.js";
import { unschedulableCode, type UnschedulableCode } from "../framework/status.js";
import { ARCH_DEVICE, ARCH_EDGE_CLOUD, ARCH_NAMES, OBJ_ACCURACY, R_ACCURACY, R_ROOM, emptyOption, objectiveCode, privacyCode, type PlanOption } from "./options.js";
import type { InferenceFailure, InferencePlan, InferenceServiceInput, PlannedTask } from "./types.js";

export interface PlanInferenceOptions {
  /** Filters that choose candidate servers. Default: `defaultProfile()` (every filter). */
  profile?: SchedulingProfile;
  /**
   * Keep the plan's reservations in the snapshot when the service is placed, so later workloads
   * of the same cycle see them. Default true; false for dry runs. A failed service never leaves any.
   */
  reserve?: boolean;
  /**
   * End-to-end latencies the service's clients measured (its `status.measured`), recent ones only
   * (the caller's clock decides): an option a client measured is ranked at what it measured.
   */
  measuredLatency?: readonly MeasuredClientLatency[];
}

/**
 * Plans an InferenceService (Neurosurgeon + Edgent + model selection, design.md §5): for each Ready
 * client matching `clients.selector`, in name order, the best feasible (chain, server, split) under
 * the objective, SLO, privacy boundary, architecture, resources and server load, reserving each
 * client's tasks before planning the next. All clients are placed or none.
 *
 * Servers are the other edge/cloud nodes passing the profile's filters (a client is never its own
 * server). Clients that are not Ready are skipped and listed in `skippedClients`. Tasks are shared
 * per (node, chain, side) among the service's clients; see `TaskGroup`.
 */
export function planInference(snapshot: Snapshot, service: InferenceServiceInput, model: ModelSpec | undefined, options: PlanInferenceOptions = {}): InferencePlan {
  const spec = service.spec;
  const namespace = service.metadata.namespace ?? "default";
  const { clients, skippedClients } = readyClients(snapshot, spec);
  const fail = (failures: InferenceFailure[], message: string, code: UnschedulableCode = "UnschedulableAndUnresolvable"): InferencePlan => ({
    status: "Unschedulable",
    code,
    failures,
    message,
    skippedClients,
  });
  if (!model) {
    const message = `model "${spec.model}" not found in namespace "${namespace}"`;
    return fail([{ reasons: ["model"], message }], message);
  }
  if (clients.length === 0) {
    const message = "no Ready node matches spec.clients.selector" + (skippedClients.length > 0 ? ` (not Ready: ${skippedClients.join(", ")})` : "");
    return fail([{ reasons: ["clients"], message }], message);
  }

  const compiled = compileModel(model);
  const candidates = candidateChains(compiled.chains, spec);
  // Capped by the tenant: the tasks carry it (their annotation), and preemption reads it from them.
  const priority = effectivePriority(snapshot, { namespace, priority: spec.priority });
  const probe = serverProbe(namespace, priority, spec);
  const scanOptions = { profile: options.profile, skipAllocationFilters: true };
  const ctx = serviceContext(snapshot, spec, namespace, compiled.chains, candidates.chains, passingNodes(snapshot, probe, scanOptions), options);

  const mark = snapshot.mark();
  const { plans, failures, roomOnly } = placeClients(ctx, clients, compiled.chains, candidates, spec);
  if (failures.length > 0) {
    snapshot.rollback(mark);
    // Why servers were left out matters only now, so it is worked out only now.
    const filtered = feasibleNodes(snapshot, probe, scanOptions).reasons.filter((r) => !r.reason.startsWith("node(s) had a tier"));
    const servers = filtered.length > 0 ? `; servers filtered out: ${filtered.map((r) => `${r.count} ${r.reason}`).join(", ")}` : "";
    const message = `${failures.length}/${clients.length} client(s) cannot be placed: ${failures.map((f) => f.message).join("; ")}${servers}`;
    return fail(failures, message, unschedulableCode(roomOnly));
  }

  const tasks = plannedTasks(ctx, compiled.chains, priority);
  const total = totalRequest(tasks);
  const over = quotaExceeded(snapshot, namespace, total, tasks.length);
  if (over.length > 0) {
    snapshot.rollback(mark);
    const message = quotaMessage(snapshot, namespace, total, tasks.length, over);
    return fail([{ reasons: ["quota"], message }], message);
  }
  if (options.reserve === false) snapshot.rollback(mark);
  else reserveTasks(snapshot, service.metadata.name, namespace, tasks, total);
  return { status: "Scheduled", clients: plans, tasks, skippedClients, message: scheduledMessage(plans, tasks, skippedClients) };
}

/** The Ready nodes matching the clients selector (planned), and the others (skipped), by name. */
function readyClients(snapshot: Snapshot, spec: InferenceServiceInput["spec"]): { clients: number[]; skippedClients: string[] } {
  const clients: number[] = [];
  const skippedClients: string[] = [];
  for (const i of snapshot.selectNodes(spec.clients.selector)) {
    const node = snapshot.nodes[i]!;
    if (node.ready) clients.push(node.index);
    else skippedClients.push(node.name);
  }
  return { clients, skippedClients };
}

/** What a server must pass, its allocation aside (checked per split): the filter pass's task. */
function serverProbe(namespace: string, priority: number, spec: InferenceServiceInput["spec"]): TaskRequest {
  return {
    tenant: namespace,
    priority,
    role: "tail",
    resources: { cpu: 0, memoryMiB: 0, gpu: 0 },
    tiers: ["edge", "cloud"],
    nodeSelector: spec.nodeSelector,
    tolerations: spec.tolerations,
  };
}

function serviceContext(
  snapshot: Snapshot,
  spec: InferenceServiceInput["spec"],
  namespace: string,
  all: readonly Chain[],
  chains: Chain[],
  servers: Int32Array,
  options: PlanInferenceOptions,
): ServiceContext {
  const serverList = [...servers];
  return {
    snapshot,
    chains,
    chainTotal: all.length,
    variantRank: variantRanks(all),
    servers,
    serverIsCloud: Uint8Array.from(serverList, (i) => (snapshot.nodes[i]!.tier === "cloud" ? 1 : 0)),
    serverRankOf: new Map(serverList.map((i, k) => [i, k])),
    objective: objectiveCode(spec.objective),
    sloLatencyMs: spec.slo.latencyMs ?? Infinity,
    maxDeviceEnergyMj: spec.slo.maxDeviceEnergyMj ?? Infinity,
    privacy: privacyCode(spec.privacy.rawDataBoundary),
    arch: spec.architecture === "auto" ? -1 : ARCH_NAMES.indexOf(spec.architecture),
    rps: spec.clients.requestsPerSecond,
    resources: spec.resources,
    groups: new Map(),
    newTasksOn: new Map(),
    measured: snapshot.measurementsOf(namespace, spec.model),
    measuredOptions: options.measuredLatency?.length ? measuredOptions(snapshot, all, options.measuredLatency) : undefined,
  };
}

/**
 * Each client's best option, reserved before the next client is planned. `roomOnly`: every client
 * that failed had an option refused only for lack of room (so preemption may help).
 */
function placeClients(
  ctx: ServiceContext,
  clients: readonly number[],
  all: readonly Chain[],
  candidates: { chains: Chain[]; excluded: number; bestAccuracy: number },
  spec: InferenceServiceInput["spec"],
): { plans: ClientPlan[]; failures: InferenceFailure[]; roomOnly: boolean } {
  const nodes = ctx.snapshot.nodes;
  const best: PlanOption = emptyOption();
  const diag: ClientDiagnostics = { reasons: 0, fastestLatencyMs: Infinity, lowestEnergyMj: Infinity };
  const plans: ClientPlan[] = [];
  const failures: InferenceFailure[] = [];
  let roomOnly = true;
  for (const client of clients) {
    evaluateClient(ctx, client, best, diag);
    if (best.chain < 0) {
      if (candidates.excluded > 0) diag.reasons |= R_ACCURACY;
      if ((diag.reasons & R_ROOM) === 0) roomOnly = false;
      const f = describeClientFailure(nodes[client]!.name, diag, spec, { candidates: candidates.chains.length, excluded: candidates.excluded, best: candidates.bestAccuracy });
      failures.push({ client: nodes[client]!.name, ...f });
      continue;
    }
    const chain = all[best.chain]!;
    reserveOption(ctx, client, chain, best);
    plans.push(clientPlan(ctx.snapshot, client, chain, best));
  }
  return { plans, failures, roomOnly };
}

function totalRequest(tasks: readonly PlannedTask[]): { cpu: number; memoryMiB: number; gpu: number } {
  const total = { cpu: 0, memoryMiB: 0, gpu: 0 };
  for (const t of tasks) {
    total.cpu += t.resources.cpu;
    total.memoryMiB += t.resources.memoryMiB;
    total.gpu += t.resources.gpu;
  }
  return total;
}

/** The plan's tasks into the snapshot: their requests were reserved per client already, the tenant's usage and the task list now. */
function reserveTasks(snapshot: Snapshot, service: string, namespace: string, tasks: readonly PlannedTask[], total: { cpu: number; memoryMiB: number; gpu: number }): void {
  snapshot.adjustTenant(namespace, total.cpu, total.memoryMiB, total.gpu, tasks.length);
  for (const t of tasks) {
    snapshot.addTask({
      name: `${service}/${t.key}`,
      namespace,
      node: t.node,
      role: t.role,
      priority: t.priority,
      resources: t.resources,
      load: t.load,
      owner: `InferenceService/${service}`,
    });
  }
}

/**
 * Candidate rules (design.md §5): objective `accuracy` considers every chain; `latency` and `energy`
 * only the full model unless `slo.minAccuracy` is given, then every chain. With minAccuracy, chains
 * below it are excluded.
 */
function candidateChains(all: readonly Chain[], spec: InferenceServiceInput["spec"]): { chains: Chain[]; excluded: number; bestAccuracy: number } {
  const min = spec.slo.minAccuracy;
  const pool = objectiveCode(spec.objective) === OBJ_ACCURACY || min !== undefined ? all : all.slice(0, 1);
  const chains = min === undefined ? [...pool] : pool.filter((c) => c.accuracy >= min);
  return { chains, excluded: pool.length - chains.length, bestAccuracy: Math.max(...pool.map((c) => c.accuracy)) };
}

/** Measured options in the planner's codes, by client index; options naming what no longer exists are left out. */
function measuredOptions(snapshot: Snapshot, chains: readonly Chain[], list: readonly MeasuredClientLatency[]): Map<number, MeasuredOption[]> {
  const out = new Map<number, MeasuredOption[]>();
  const index = (name: string | undefined) => (name === undefined ? -1 : snapshot.nodeIndex(name));
  for (const m of list) {
    const client = snapshot.nodeIndex(m.client);
    const chain = chains.find((c) => c.variant === m.variant && c.exitAfterLayer === m.exitAfterLayer);
    const arch = ARCH_NAMES.indexOf(m.architecture);
    const tail = index(m.tailNode);
    const head = index(m.headNode);
    if (client < 0 || !chain || arch < 0 || (m.tailNode !== undefined && tail < 0) || (m.headNode !== undefined && head < 0)) continue;
    let l = out.get(client);
    if (!l) out.set(client, (l = []));
    l.push({ chain: chain.index, j: m.split, arch, tail, head, latencyMs: m.latencyMs });
  }
  return out;
}

function variantRanks(chains: readonly Chain[]): Int32Array {
  const names = [...new Set(chains.map((c) => c.variant))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Int32Array.from(chains, (c) => names.indexOf(c.variant));
}

function reserveOption(ctx: ServiceContext, client: number, chain: Chain, o: PlanOption): void {
  const nodes = ctx.snapshot.nodes;
  const n = chain.length;
  const rps = ctx.rps;
  if (o.arch === ARCH_DEVICE) {
    applyGroup(ctx, client, chain, SIDE_HEAD, n, 0, client);
    return;
  }
  if (o.arch === ARCH_EDGE_CLOUD) {
    applyGroup(ctx, o.head, chain, SIDE_HEAD, o.j, (rps * timingOn(ctx, chain, nodes[o.head]!).prefixT[o.j]!) / 1000, client);
  } else if (o.j > 0) {
    applyGroup(ctx, client, chain, SIDE_HEAD, o.j, 0, client);
  }
  applyGroup(ctx, o.tail, chain, SIDE_TAIL, o.j, (rps * timingOn(ctx, chain, nodes[o.tail]!).suffixT[o.j]!) / 1000, client);
}

function clientPlan(snapshot: Snapshot, client: number, chain: Chain, o: PlanOption): ClientPlan {
  const nodes = snapshot.nodes;
  const plan: ClientPlan = {
    client: nodes[client]!.name,
    architecture: ARCH_NAMES[o.arch]!,
    split: o.j,
    variant: chain.variant,
    exitAfterLayer: chain.exitAfterLayer,
    predicted: { latencyMs: o.estimatedMs, deviceEnergyMj: o.deviceEnergyMj, accuracy: o.accuracy, uplinkBytes: o.uplinkBytes },
  };
  if (o.j > 0) plan.headNode = nodes[o.head]!.name;
  if (o.j < chain.length) plan.tailNode = nodes[o.tail]!.name;
  // Key order as design.md §4 lists the fields, for readable output.
  const { client: c, architecture, split, headNode, tailNode, variant, exitAfterLayer, predicted } = plan;
  return { client: c, architecture, split, ...(headNode ? { headNode } : {}), ...(tailNode ? { tailNode } : {}), variant, exitAfterLayer, predicted };
}

function plannedTasks(ctx: ServiceContext, chains: readonly Chain[], priority: number): PlannedTask[] {
  const nodes = ctx.snapshot.nodes;
  const groups = [...ctx.groups.values()].sort((a, b) => a.node - b.node || a.side - b.side || a.chain - b.chain);
  const keys = new Set<string>();
  return groups.map((g: TaskGroup) => {
    const chain = chains[g.chain]!;
    const role = g.from === 1 && g.to === chain.length ? "serve" : g.side === SIDE_HEAD ? "head" : "tail";
    const node = nodes[g.node]!.name;
    const r = ctx.resources;
    const resources = { cpu: r.cpu, memoryMiB: r.memoryMiB + chain.memoryOf(g.from, g.to), gpu: r.gpu };
    // A node serving a chain whole both for itself (device) and for another client (j = 0) has
    // two `serve` tasks for the chain; the suffix keeps their keys apart.
    let key = `${role}/${node}/${chain.variant}/${chain.exitAfterLayer}`;
    if (keys.has(key)) key += "/2";
    keys.add(key);
    return {
      role,
      node,
      key,
      variant: chain.variant,
      exitAfterLayer: chain.exitAfterLayer,
      layers: { from: g.from, to: g.to },
      resources,
      load: g.load,
      clients: g.clients.map((c) => nodes[c]!.name).sort(),
      priority,
    };
  });
}

function scheduledMessage(plans: readonly ClientPlan[], tasks: readonly PlannedTask[], skipped: readonly string[]): string {
  const byArch = new Map<string, number>();
  for (const p of plans) byArch.set(p.architecture, (byArch.get(p.architecture) ?? 0) + 1);
  const archs = [...byArch]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([a, k]) => `${k} ${a}`)
    .join(", ");
  const worst = Math.max(...plans.map((p) => p.predicted.latencyMs));
  let msg = `planned ${plans.length} client(s) (${archs}) with ${tasks.length} task(s); worst predicted latency ${fmt(worst)} ms`;
  if (skipped.length > 0) msg += `; skipped clients that are not Ready: ${skipped.join(", ")}`;
  return msg;
}
