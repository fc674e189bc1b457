import { matchesRequirements, selectorRequirements, type LabelSelector } from "@eiaas/api";
import { fitsSlots, fitsWithin, unschedulableReason } from "./capacity.js";
import { makeNode, tierBit } from "./node.js";
import { SchedulingError } from "../errors.js";
import type { ModelMeasurements } from "../cost/measurements.js";
import type { ResourceVector, SnapshotInit, SnapshotNode, SnapshotTask, SnapshotTenant, TaskInit, TenantInit } from "./types.js";

export type { NodeInit, SnapshotInit, TaskInit, TenantInit } from "./types.js";

type UndoEntry = { arr: Float64Array | number[]; idx: number; old: number } | { fn: () => void };

/**
 * One scheduling cycle's view of the fleet. Nodes are immutable; what placement changes (node
 * allocations, tenant usage, the tasks on each node) lives in flat arrays that `reserve` updates in
 * place. Every change is logged so `rollback(mark())` undoes a tentative placement (a gang, a whole
 * InferenceService) without copying anything.
 */
export class Snapshot {
  readonly nodes: readonly SnapshotNode[];
  readonly tenants: SnapshotTenant[] = [];
  /** Allocations by node index. */
  readonly allocated: { readonly cpu: Float64Array; readonly memoryMiB: Float64Array; readonly gpu: Float64Array; readonly load: Float64Array };
  /** Usage by tenant index. */
  readonly tenantUsage: { readonly cpu: number[]; readonly memoryMiB: number[]; readonly gpu: number[]; readonly tasks: number[] };
  /** Σ capacity over all nodes: the denominator of dominant-resource shares. */
  readonly totalCapacity: Readonly<ResourceVector>;
  /** 1 when the node is Ready and schedulable (hot-path copy of two node fields). */
  readonly schedulable: Uint8Array;
  /** Bit (1 << tierIndex) per node: device 1, edge 2, cloud 4. */
  readonly tierBits: Uint8Array;
  /**
   * Hot-path copies of node fields by index (flat arrays scan faster than node objects):
   * capacity, load capacity and number of taints.
   */
  readonly capacity: { readonly cpu: Float64Array; readonly memoryMiB: Float64Array; readonly gpu: Float64Array; readonly load: Float64Array };
  readonly taintCount: Uint16Array;
  /** Indices of the nodes that have taints (usually few), so taint checks skip the others. */
  readonly taintedNodes: Int32Array;
  /** Whether any node limits its number of tasks (else slot checks are skipped). */
  readonly hasTaskLimits: boolean;
  /** Priority cap of a tenant without a `maxPriority`; undefined: uncapped. */
  readonly defaultMaxPriority: number | undefined;

  /**
   * Measured per-segment timings by `namespace/model` (see `indexMeasurements`): what serving tasks
   * measured. Not part of the fleet's state that placements change, so not rolled back; set by the
   * snapshot's owner whenever they change (`setMeasurements`).
   */
  private measurements: ReadonlyMap<string, ModelMeasurements> = new Map();
  private readonly byName = new Map<string, number>();
  private readonly tenantByName = new Map<string, number>();
  private readonly tasksByNode: SnapshotTask[][];
  private readonly undoLog: UndoEntry[] = [];
  private readonly scratchBuffers = new Map<string, Float64Array>();
  private readonly scratchIntBuffers = new Map<string, Int32Array>();
  private labelIndex: Map<string, Map<string, number[]>> | undefined;

  constructor(init: SnapshotInit) {
    const sorted = [...init.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    sorted.forEach((n, i) => {
      if (this.byName.has(n.name)) throw new SchedulingError(`duplicate node "${n.name}" in snapshot`);
      this.byName.set(n.name, i);
    });
    const parentIdx = sorted.map((n) => (n.parent !== undefined ? (this.byName.get(n.parent) ?? -1) : -1));
    this.nodes = sorted.map((n, i) => makeNode(n, i, parentIdx));
    const count = this.nodes.length;
    this.allocated = {
      cpu: new Float64Array(count),
      memoryMiB: new Float64Array(count),
      gpu: new Float64Array(count),
      load: new Float64Array(count),
    };
    this.schedulable = new Uint8Array(count);
    this.tierBits = new Uint8Array(count);
    this.capacity = {
      cpu: new Float64Array(count),
      memoryMiB: new Float64Array(count),
      gpu: new Float64Array(count),
      load: new Float64Array(count),
    };
    this.taintCount = new Uint16Array(count);
    const total = { cpu: 0, memoryMiB: 0, gpu: 0 };
    for (const [i, n] of sorted.entries()) {
      const node = this.nodes[i]!;
      this.allocated.cpu[i] = n.allocated?.cpu ?? 0;
      this.allocated.memoryMiB[i] = n.allocated?.memoryMiB ?? 0;
      this.allocated.gpu[i] = n.allocated?.gpu ?? 0;
      this.allocated.load[i] = n.allocated?.load ?? 0;
      this.schedulable[i] = unschedulableReason(node.ready, node.unschedulable) === undefined ? 1 : 0;
      this.tierBits[i] = tierBit(node.tier);
      this.capacity.cpu[i] = node.capacity.cpu;
      this.capacity.memoryMiB[i] = node.capacity.memoryMiB;
      this.capacity.gpu[i] = node.capacity.gpu;
      this.capacity.load[i] = node.loadCapacity;
      this.taintCount[i] = Math.min(node.taints.length, 65535);
      total.cpu += node.capacity.cpu;
      total.memoryMiB += node.capacity.memoryMiB;
      total.gpu += node.capacity.gpu;
    }
    this.totalCapacity = total;
    this.taintedNodes = Int32Array.from(this.nodes.filter((n) => n.taints.length > 0).map((n) => n.index));
    this.hasTaskLimits = this.nodes.some((n) => n.capacity.tasks !== Infinity);
    this.defaultMaxPriority = init.defaultMaxPriority;
    this.tenantUsage = { cpu: [], memoryMiB: [], gpu: [], tasks: [] };
    for (const t of init.tenants ?? []) this.addTenant(t);
    this.tasksByNode = this.nodes.map(() => []);
    for (const t of init.tasks ?? []) this.reserve(t);
    // Construction is not undoable: a rollback never goes below the initial state.
    this.undoLog.length = 0;
  }

  /** Replaces the measured timings the planners read (see `measurementsOf`). */
  setMeasurements(m: ReadonlyMap<string, ModelMeasurements>): void {
    this.measurements = m;
  }

  /** What serving tasks measured of a model in a namespace, by node name; undefined when nothing. */
  measurementsOf(namespace: string, model: string): ModelMeasurements | undefined {
    return this.measurements.size === 0 ? undefined : this.measurements.get(`${namespace}/${model}`);
  }

  /** Index of the node, or -1. */
  nodeIndex(name: string): number {
    return this.byName.get(name) ?? -1;
  }

  node(name: string): SnapshotNode | undefined {
    const i = this.byName.get(name);
    return i === undefined ? undefined : this.nodes[i];
  }

  /** Index of the tenant, or -1 (an unknown tenant has no quota and weight 1). */
  tenantIndex(name: string): number {
    return this.tenantByName.get(name) ?? -1;
  }

  tenant(name: string): SnapshotTenant | undefined {
    const i = this.tenantByName.get(name);
    return i === undefined ? undefined : this.tenants[i];
  }

  /** Highest priority the tenant's workloads count with: its `maxPriority`, else the default cap. */
  priorityCap(tenant: string): number | undefined {
    return this.tenant(tenant)?.maxPriority ?? this.defaultMaxPriority;
  }

  /** The tenant's entry, created (unlimited quota, weight 1) when the snapshot has none. */
  ensureTenant(name: string): SnapshotTenant {
    const i = this.tenantByName.get(name);
    if (i !== undefined) return this.tenants[i]!;
    const t = this.addTenant({ name });
    this.undoLog.push({ fn: () => this.removeLastTenant(name) });
    return t;
  }

  /** Current usage of a tenant (zeros for an unknown tenant). */
  usageOf(name: string): ResourceVector & { tasks: number } {
    const i = this.tenantIndex(name);
    if (i < 0) return { cpu: 0, memoryMiB: 0, gpu: 0, tasks: 0 };
    const u = this.tenantUsage;
    return { cpu: u.cpu[i]!, memoryMiB: u.memoryMiB[i]!, gpu: u.gpu[i]!, tasks: u.tasks[i]! };
  }

  /** Current allocation of a node. */
  allocationOf(index: number): ResourceVector & { load: number } {
    this.checkIndex(index);
    const a = this.allocated;
    return { cpu: a.cpu[index]!, memoryMiB: a.memoryMiB[index]!, gpu: a.gpu[index]!, load: a.load[index]! };
  }

  /** Unfinished tasks on the node (its task slots in use). */
  taskCount(index: number): number {
    return this.tasksByNode[index]!.length;
  }

  /** Whether the node has `n` task slots free (a node without a task limit always has). */
  hasTaskSlots(index: number, n = 1): boolean {
    return fitsSlots(this.tasksByNode[index]!.length, n, this.nodes[index]!.capacity.tasks);
  }

  /**
   * Whether `request` (and `newTasks` more tasks) fits in what the node has left, by the capacity
   * rules (`capacity.ts`): a dimension not requested is not checked.
   */
  fits(index: number, cpu: number, memoryMiB: number, gpu: number, newTasks = 0): boolean {
    const c = this.capacity;
    const a = this.allocated;
    return (
      fitsWithin(a.cpu[index]!, cpu, c.cpu[index]!) &&
      fitsWithin(a.memoryMiB[index]!, memoryMiB, c.memoryMiB[index]!) &&
      fitsWithin(a.gpu[index]!, gpu, c.gpu[index]!) &&
      this.hasTaskSlots(index, newTasks)
    );
  }

  /** Whether adding `load` keeps the node's busy fraction within its load capacity. */
  fitsLoad(index: number, load: number): boolean {
    return fitsWithin(this.allocated.load[index]!, load, this.capacity.load[index]!);
  }

  tasksOn(index: number): readonly SnapshotTask[] {
    this.checkIndex(index);
    return this.tasksByNode[index]!;
  }

  /** Every task in the snapshot, by node. */
  *tasks(): IterableIterator<SnapshotTask> {
    for (const list of this.tasksByNode) yield* list;
  }

  /**
   * Makes the current state the base: forgets the change log, so no `rollback` goes below it. For
   * a snapshot kept across cycles and brought up to date with reserve/release as tasks come and go.
   */
  commit(): void {
    this.undoLog.length = 0;
  }

  /**
   * A value computed from the nodes' fixed attributes only (tier, readiness, labels, taints: set
   * at construction, never by reserve/release), kept for this snapshot's life under `scope` (a
   * profile) and `key`. The scheduler keeps one snapshot across cycles while the fleet is
   * unchanged, so e.g. the servers a service may use are found once, not once per plan.
   */
  memo<T>(scope: object, key: string, compute: () => T): T {
    let byKey = this.memos.get(scope);
    if (!byKey) this.memos.set(scope, (byKey = new Map()));
    if (byKey.has(key)) return byKey.get(key) as T;
    const value = compute();
    byKey.set(key, value);
    return value;
  }
  private readonly memos = new WeakMap<object, Map<string, unknown>>();

  /** A position in the change log; pass it to `rollback` to undo everything reserved since. */
  mark(): number {
    return this.undoLog.length;
  }

  rollback(mark: number): void {
    if (mark < 0 || mark > this.undoLog.length) throw new SchedulingError(`invalid snapshot mark ${mark}`);
    while (this.undoLog.length > mark) {
      const e = this.undoLog.pop()!;
      if ("fn" in e) e.fn();
      else e.arr[e.idx] = e.old;
    }
  }

  /** Records a task on its node, adding its request to the node's allocation and its tenant's usage. */
  reserve(init: TaskInit): SnapshotTask {
    const task = this.addTask(init);
    this.adjustNode(task.nodeIndex, task.resources.cpu, task.resources.memoryMiB, task.resources.gpu, task.load);
    this.adjustTenant(task.namespace, task.resources.cpu, task.resources.memoryMiB, task.resources.gpu, 1);
    return task;
  }

  /**
   * Records on its node a run of a task the control plane already ended (failed it, or deleted it)
   * that the node's agent still reports running — it has not heard yet, or is cut off: the run
   * holds the node's room and a task slot until the agent stops it. Not its tenant's usage (the
   * task is over for its workload, which may already run its replacement), and never a preemption
   * victim (there is nothing left to fail). Undone by {@link unhold}.
   */
  hold(init: TaskInit): SnapshotTask {
    const task = this.addTask(init, true);
    this.adjustNode(task.nodeIndex, task.resources.cpu, task.resources.memoryMiB, task.resources.gpu, task.load);
    return task;
  }

  /** Gives back what {@link hold} took (the node stopped reporting the run). */
  unhold(task: SnapshotTask): void {
    const list = this.tasksByNode[task.nodeIndex];
    const at = list ? list.indexOf(task) : -1;
    if (!list || at < 0 || !task.held) throw new SchedulingError(`held run "${task.name}" is not in the snapshot`);
    list.splice(at, 1);
    this.undoLog.push({ fn: () => list.splice(at, 0, task) });
    const r = task.resources;
    this.adjustNode(task.nodeIndex, -r.cpu, -r.memoryMiB, -r.gpu, -task.load);
  }

  /** Removes a task (a preemption victim), giving back its request. */
  release(task: SnapshotTask): void {
    const list = this.tasksByNode[task.nodeIndex];
    const at = list ? list.indexOf(task) : -1;
    if (!list || at < 0) throw new SchedulingError(`task "${task.name}" is not in the snapshot`);
    list.splice(at, 1);
    this.undoLog.push({ fn: () => list.splice(at, 0, task) });
    const r = task.resources;
    this.adjustNode(task.nodeIndex, -r.cpu, -r.memoryMiB, -r.gpu, -task.load);
    this.adjustTenant(task.namespace, -r.cpu, -r.memoryMiB, -r.gpu, -1);
  }

  /**
   * Records a task without touching allocations: for planners that reserved its request
   * piecewise with `adjustNode`/`adjustTenant` while deciding (tasks shared by several clients).
   */
  addTask(init: TaskInit, held = false): SnapshotTask {
    const nodeIndex = typeof init.node === "number" ? init.node : this.nodeIndex(init.node);
    this.checkIndex(nodeIndex, typeof init.node === "string" ? init.node : undefined);
    const task: SnapshotTask = {
      name: init.name,
      namespace: init.namespace,
      uid: init.uid,
      nodeIndex,
      role: init.role ?? "serve",
      priority: init.priority ?? 0,
      createdAt: init.createdAt ?? 0,
      resources: { cpu: init.resources?.cpu ?? 0, memoryMiB: init.resources?.memoryMiB ?? 0, gpu: init.resources?.gpu ?? 0 },
      load: init.load ?? 0,
      owner: init.owner,
      ...(held ? { held: true as const } : {}),
    };
    const list = this.tasksByNode[nodeIndex]!;
    list.push(task);
    this.undoLog.push({ fn: () => void list.splice(list.lastIndexOf(task), 1) });
    return task;
  }

  /** Adds (or with negative values, removes) allocation on a node; undoable. */
  adjustNode(index: number, cpu: number, memoryMiB: number, gpu: number, load: number): void {
    this.checkIndex(index);
    const a = this.allocated;
    if (cpu !== 0) this.set(a.cpu, index, a.cpu[index]! + cpu);
    if (memoryMiB !== 0) this.set(a.memoryMiB, index, a.memoryMiB[index]! + memoryMiB);
    if (gpu !== 0) this.set(a.gpu, index, a.gpu[index]! + gpu);
    if (load !== 0) this.set(a.load, index, a.load[index]! + load);
  }

  /** Adds usage to a tenant (created on first use); undoable. */
  adjustTenant(name: string, cpu: number, memoryMiB: number, gpu: number, tasks: number): void {
    const i = this.ensureTenant(name).index;
    const u = this.tenantUsage;
    if (cpu !== 0) this.set(u.cpu, i, u.cpu[i]! + cpu);
    if (memoryMiB !== 0) this.set(u.memoryMiB, i, u.memoryMiB[i]! + memoryMiB);
    if (gpu !== 0) this.set(u.gpu, i, u.gpu[i]! + gpu);
    if (tasks !== 0) this.set(u.tasks, i, u.tasks[i]! + tasks);
  }

  /**
   * A reusable buffer of at least `size` numbers (contents unspecified). Lets hot loops avoid an
   * allocation per decision; a Snapshot serves one synchronous cycle, so sharing is safe.
   */
  scratch(key: string, size: number): Float64Array {
    let buf = this.scratchBuffers.get(key);
    if (!buf || buf.length < size) {
      buf = new Float64Array(Math.max(size, 16));
      this.scratchBuffers.set(key, buf);
    }
    return buf;
  }

  /**
   * The nodes carrying label `key` with `value`, in index order. The inverted index is built on
   * first use and kept for the snapshot's life (nodes do not change within a cycle).
   */
  nodesWithLabel(key: string, value: string): readonly number[] {
    if (!this.labelIndex) {
      const index = new Map<string, Map<string, number[]>>();
      for (const n of this.nodes) {
        for (const [k, v] of Object.entries(n.labels)) {
          let byValue = index.get(k);
          if (!byValue) index.set(k, (byValue = new Map()));
          let list = byValue.get(v);
          if (!list) byValue.set(v, (list = []));
          list.push(n.index);
        }
      }
      this.labelIndex = index;
    }
    return this.labelIndex.get(key)?.get(value) ?? [];
  }

  /**
   * The nodes a label selector matches, in index (name) order. A selector with `matchLabels` starts
   * from the inverted index of its first pair instead of scanning the fleet, so a cycle planning
   * hundreds of workloads over thousands of nodes does not match every selector against every node.
   */
  selectNodes(selector: LabelSelector | undefined): number[] {
    const reqs = selectorRequirements(selector);
    const first = Object.entries(selector?.matchLabels ?? {})[0];
    const candidates = first ? this.nodesWithLabel(first[0], first[1]) : this.nodes.map((n) => n.index);
    return candidates.filter((i) => matchesRequirements(reqs, this.nodes[i]!.labels));
  }

  /** As `scratch`, for node indices. */
  scratchInt(key: string, size: number): Int32Array {
    let buf = this.scratchIntBuffers.get(key);
    if (!buf || buf.length < size) {
      buf = new Int32Array(Math.max(size, 16));
      this.scratchIntBuffers.set(key, buf);
    }
    return buf;
  }

  private set(arr: Float64Array | number[], idx: number, value: number): void {
    this.undoLog.push({ arr, idx, old: arr[idx]! });
    arr[idx] = value;
  }

  private addTenant(t: TenantInit): SnapshotTenant {
    if (this.tenantByName.has(t.name)) throw new SchedulingError(`duplicate tenant "${t.name}" in snapshot`);
    const tenant: SnapshotTenant = {
      index: this.tenants.length,
      name: t.name,
      weight: t.weight !== undefined && t.weight > 0 ? t.weight : 1,
      quota: { ...t.quota },
      maxPriority: t.maxPriority,
      createdAt: t.createdAt ?? 0,
    };
    this.tenants.push(tenant);
    this.tenantByName.set(t.name, tenant.index);
    const u = this.tenantUsage;
    u.cpu.push(t.usage?.cpu ?? 0);
    u.memoryMiB.push(t.usage?.memoryMiB ?? 0);
    u.gpu.push(t.usage?.gpu ?? 0);
    u.tasks.push(t.usage?.tasks ?? 0);
    return tenant;
  }

  private removeLastTenant(name: string): void {
    this.tenants.pop();
    this.tenantByName.delete(name);
    for (const arr of Object.values(this.tenantUsage)) arr.pop();
  }

  private checkIndex(index: number, name?: string): void {
    if (!(index >= 0 && index < this.nodes.length)) {
      throw new SchedulingError(name !== undefined ? `node "${name}" is not in the snapshot` : `node index ${index} out of range`);
    }
  }
}
