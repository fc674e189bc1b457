/**
 * Nodes at the edge of each capacity rule (`snapshot/capacity.ts`), with the verdict the rules
 * give: read by the rules' own tests and by libs/db's test that the planner's path (a Snapshot)
 * and the binder's path (rows under its lock) agree on every one.
 */
import { edgeNodeSpec, type Condition } from "@eiaas/api";
import type { CapacityShortfall } from "../snapshot/capacity.js";
import { buildSnapshot, type EdgeNodeLike, type TaskLike } from "../snapshot/build.js";

/** What a task asks: its requests and the load it adds. */
export interface CaseDemand {
  cpu: number;
  memoryMiB: number;
  gpu: number;
  load: number;
}

export interface CapacityCase {
  name: string;
  node: {
    capacity: { cpu: number; memoryMiB: number; gpu: number; tasks?: number };
    unschedulable?: boolean;
    status?: { phase?: "Ready" | "NotReady"; conditions?: Condition[] };
  };
  /** The node's unfinished tasks, one entry each. */
  existing: readonly CaseDemand[];
  /** One more task on the node. */
  request: CaseDemand;
  /** The rule it breaks, or "fits". */
  verdict: CapacityShortfall | "NotReady" | "Cordoned" | "fits";
}

const demand = (o: Partial<CaseDemand> = {}): CaseDemand => ({ cpu: 0, memoryMiB: 0, gpu: 0, load: 0, ...o });
const small = { cpu: 1000, memoryMiB: 4096, gpu: 0 };
const gpus = (n: number) => ({ cpu: 64000, memoryMiB: 65536, gpu: n });
const condition = (status: Condition["status"]): Condition => ({ type: "Ready", status, reason: "Test", message: "m", lastTransitionTime: "2026-12-01T00:00:00Z" });

/** A case builder: a node with `capacity`, these tasks on it, and `request`. */
function at(
  name: string,
  capacity: CapacityCase["node"]["capacity"],
  existing: Array<Partial<CaseDemand>>,
  request: Partial<CaseDemand>,
  verdict: CapacityCase["verdict"],
  node: Omit<CapacityCase["node"], "capacity"> = {},
): CapacityCase {
  return { name, node: { capacity, ...node }, existing: existing.map(demand), request: demand(request), verdict };
}

export const CAPACITY_EDGE_CASES: readonly CapacityCase[] = [
  at("cpu: exactly full", small, [{ cpu: 600 }], { cpu: 400 }, "fits"),
  at("cpu: over by rounding slack (5e-10)", small, [{ cpu: 600 }], { cpu: 400.0000000005 }, "fits"),
  at("cpu: over by 1e-6", small, [{ cpu: 600 }], { cpu: 400.000001 }, "cpu"),
  at("cpu: over by one millicore", small, [{ cpu: 600 }], { cpu: 401 }, "cpu"),
  at("memory: exactly full", small, [{ memoryMiB: 4000 }], { memoryMiB: 96 }, "fits"),
  at("memory: over by one MiB", small, [{ memoryMiB: 4000 }], { memoryMiB: 97 }, "memoryMiB"),
  at("gpu: the last one", gpus(2), [{ gpu: 1 }], { gpu: 1 }, "fits"),
  at("gpu: none left", gpus(2), [{ gpu: 2 }], { gpu: 1 }, "gpu"),
  at("gpu: asked of a node without", small, [], { gpu: 1 }, "gpu"),
  // Kubernetes' rule: a dimension not requested is not checked, even where it is over-committed
  // (capacity edited down, runs held by an agent that has not heard).
  at("over-committed cpu: a task asking no cpu", small, [{ cpu: 1200 }], { memoryMiB: 64 }, "fits"),
  at("over-committed cpu: a task asking some", small, [{ cpu: 1200 }], { cpu: 1, memoryMiB: 64 }, "cpu"),
  at("load: exactly 1 without GPUs", small, [{ load: 0.6 }], { load: 0.4 }, "fits"),
  at("load: over 1 without GPUs", small, [{ load: 0.6 }], { load: 0.41 }, "load"),
  at("load: exactly the gpu count", gpus(8), [{ load: 4 }], { load: 4 }, "fits"),
  // The slack is absolute: 5e-9 over 8 is over (a relative slack, 8e-9 here, took it).
  at("load: 5e-9 over the gpu count", gpus(8), [{ load: 4 }], { load: 4.000000005 }, "load"),
  at("load: none added to an overloaded node", small, [{ load: 1.5 }], { cpu: 10 }, "fits"),
  at("task slots: the last one", { ...small, tasks: 2 }, [{}], {}, "fits"),
  at("task slots: none left, for a task asking nothing", { ...small, tasks: 2 }, [{}, {}], {}, "tasks"),
  at("task slots: no limit set", small, [{}, {}, {}], {}, "fits"),
  at("ready: no status at all", small, [], { cpu: 1 }, "fits"),
  at("ready: phase NotReady", small, [], { cpu: 1 }, "NotReady", { status: { phase: "NotReady" } }),
  at("ready: phase Ready, Ready condition False", small, [], { cpu: 1 }, "NotReady", { status: { phase: "Ready", conditions: [condition("False")] } }),
  at("ready: Ready condition Unknown", small, [], { cpu: 1 }, "NotReady", { status: { phase: "Ready", conditions: [condition("Unknown")] } }),
  at("ready: Ready condition True", small, [], { cpu: 1 }, "fits", { status: { phase: "Ready", conditions: [condition("True")] } }),
  at("cordoned", small, [], { cpu: 1 }, "Cordoned", { unschedulable: true, status: { phase: "Ready" } }),
  at("cordoned and not Ready: not Ready first", small, [], { cpu: 1 }, "NotReady", { unschedulable: true, status: { phase: "NotReady" } }),
];

/** The name of a case's node. */
export const CASE_NODE = "n1";
/** The tenant of a case's tasks. */
export const CASE_TENANT = "acme";

/** A case's node as the API stores it (schema defaults applied). */
export function caseNode(c: CapacityCase): { metadata: { name: string }; spec: EdgeNodeLike["spec"]; status?: CapacityCase["node"]["status"] } {
  const spec = edgeNodeSpec.parse({ tier: "edge", capacity: c.node.capacity, unschedulable: c.node.unschedulable ?? false });
  return { metadata: { name: CASE_NODE }, spec, ...(c.node.status ? { status: c.node.status } : {}) };
}

/** A task on the case's node asking `d` (its load in `spec.load`, as the planners write it). */
export function caseTask(d: CaseDemand, name: string): { metadata: { name: string; namespace: string }; spec: TaskLike["spec"] & { nodeName: string }; status: { phase: string } } {
  return {
    metadata: { name, namespace: CASE_TENANT },
    spec: { nodeName: CASE_NODE, role: "serve", resources: { cpu: d.cpu, memoryMiB: d.memoryMiB, gpu: d.gpu }, ...(d.load ? { load: d.load } : {}) },
    status: { phase: "Running" },
  };
}

/**
 * The planner's verdict on a case: the scheduler's Snapshot of the node and its tasks (as
 * `buildSnapshot` makes it from stored objects), asked what the planners ask of it.
 */
export function plannerVerdict(c: CapacityCase): CapacityCase["verdict"] {
  const s = buildSnapshot({ nodes: [caseNode(c)], tasks: c.existing.map((d, i) => caseTask(d, `old-${i}`)) });
  const i = s.nodeIndex(CASE_NODE);
  if (s.schedulable[i] !== 1) return s.nodes[i]!.ready ? "Cordoned" : "NotReady";
  const r = c.request;
  if (!s.fits(i, r.cpu, 0, 0)) return "cpu";
  if (!s.fits(i, 0, r.memoryMiB, 0)) return "memoryMiB";
  if (!s.fits(i, 0, 0, r.gpu)) return "gpu";
  if (!s.fitsLoad(i, r.load)) return "load";
  if (!s.hasTaskSlots(i, 1)) return "tasks";
  // The whole request at once, as the inference planner asks it.
  if (!s.fits(i, r.cpu, r.memoryMiB, r.gpu, 1)) throw new Error(`${c.name}: fits each dimension alone but not together`);
  return "fits";
}
