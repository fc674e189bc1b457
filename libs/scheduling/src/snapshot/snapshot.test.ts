import { describe, expect, it } from "vitest";
import { SchedulingError } from "../errors.js";
import { cloud, device, edge, node, snapshot } from "../testing/builders.js";
import { buildSnapshot, type EdgeNodeLike, type TaskLike } from "./build.js";
import { networkPath, transferMs, serializationMs } from "./network.js";
import { Snapshot } from "./snapshot.js";

describe("Snapshot", () => {
  it("sorts nodes by name and resolves parents and ancestors", () => {
    const s = snapshot([device("d1", "e1"), cloud("c1"), edge("e1", { parent: "c1" }), device("orphan", "missing")]);
    expect(s.nodes.map((n) => n.name)).toEqual(["c1", "d1", "e1", "orphan"]);
    const d1 = s.node("d1")!;
    expect(d1.parentIndex).toBe(s.nodeIndex("e1"));
    expect([...d1.ancestors].map((i) => s.nodes[i]!.name)).toEqual(["d1", "e1", "c1"]);
    expect(s.node("orphan")!.parentIndex).toBe(-1);
    expect(s.nodeIndex("nope")).toBe(-1);
  });

  it("cuts parent cycles instead of looping", () => {
    const s = snapshot([edge("a", { parent: "b" }), edge("b", { parent: "a" })]);
    expect([...s.node("a")!.ancestors].map((i) => s.nodes[i]!.name)).toEqual(["a", "b"]);
  });

  it("rejects duplicate node names", () => {
    expect(() => snapshot([edge("a"), edge("a")])).toThrow(SchedulingError);
  });

  it("load capacity is 1, or the gpu count when the node has GPUs", () => {
    const s = snapshot([edge("cpu-only"), edge("gpus", { capacity: { cpu: 1, memoryMiB: 1, gpu: 3 } })]);
    expect(s.node("cpu-only")!.loadCapacity).toBe(1);
    expect(s.node("gpus")!.loadCapacity).toBe(3);
    expect(s.fitsLoad(s.nodeIndex("gpus"), 2.9)).toBe(true);
    expect(s.fitsLoad(s.nodeIndex("cpu-only"), 1.1)).toBe(false);
  });

  it("reserve, release and rollback restore allocations, usage and task lists", () => {
    const s = snapshot([edge("e", { capacity: { cpu: 1000, memoryMiB: 1000, gpu: 0 } })], { tenants: [{ name: "t", quota: { cpu: 5000 } }] });
    const mark = s.mark();
    const t1 = s.reserve({ name: "a", namespace: "t", node: "e", resources: { cpu: 600, memoryMiB: 100 }, load: 0.5 });
    expect(s.fits(0, 400, 900, 0)).toBe(true);
    expect(s.fits(0, 401, 0, 0)).toBe(false);
    const inner = s.mark();
    s.reserve({ name: "b", namespace: "new-tenant", node: 0, resources: { cpu: 100 } });
    expect(s.tenant("new-tenant")).toBeDefined();
    s.release(t1);
    expect(s.allocationOf(0)).toEqual({ cpu: 100, memoryMiB: 0, gpu: 0, load: 0 });
    expect(s.tasksOn(0).map((t) => t.name)).toEqual(["b"]);
    s.rollback(inner);
    expect(s.tenant("new-tenant")).toBeUndefined();
    expect(s.allocationOf(0)).toEqual({ cpu: 600, memoryMiB: 100, gpu: 0, load: 0.5 });
    expect(s.usageOf("t")).toEqual({ cpu: 600, memoryMiB: 100, gpu: 0, tasks: 1 });
    s.rollback(mark);
    expect(s.allocationOf(0)).toEqual({ cpu: 0, memoryMiB: 0, gpu: 0, load: 0 });
    expect(s.tasksOn(0)).toEqual([]);
    expect(() => s.rollback(99)).toThrow(SchedulingError);
  });

  it("initial tasks count towards allocation and usage and cannot be rolled back", () => {
    const s = new Snapshot({
      nodes: [node("n", { allocated: { cpu: 10 } })],
      tasks: [{ name: "x", namespace: "t", node: "n", resources: { cpu: 5, memoryMiB: 7 } }],
    });
    s.rollback(0);
    expect(s.allocationOf(0).cpu).toBe(15);
    expect(s.usageOf("t").tasks).toBe(1);
    expect(() => s.reserve({ name: "y", namespace: "t", node: "missing" })).toThrow(/not in the snapshot/);
  });
});

describe("network paths", () => {
  // cloud ← edge-a ← dev-a ; cloud ← edge-b ← dev-b
  const s = snapshot([
    cloud("cloud"),
    edge("edge-a", { parent: "cloud", network: { uplinkMbps: 100, downlinkMbps: 200, rttMs: 10 } }),
    edge("edge-b", { parent: "cloud", network: { uplinkMbps: 300, downlinkMbps: 50, rttMs: 20 } }),
    device("dev-a", "edge-a", { network: { uplinkMbps: 40, downlinkMbps: 80, rttMs: 5 } }),
    device("dev-b", "edge-b", { network: { uplinkMbps: 30, downlinkMbps: 60, rttMs: 7 } }),
    device("island", undefined),
  ]);
  it.each([
    ["dev-a", "edge-a", 40, 5, 1],
    ["dev-a", "cloud", 40, 15, 2],
    ["cloud", "dev-a", 80, 15, 2],
    ["edge-a", "dev-a", 80, 5, 1],
    // up dev-a (40), edge-a (100); down edge-b (50), dev-b (60) → 40; RTT 5 + 10 + 20 + 7
    ["dev-a", "dev-b", 40, 42, 4],
    ["edge-a", "edge-b", 50, 30, 2],
    ["dev-a", "dev-a", Infinity, 0, 0],
  ] as const)("%s → %s: B=%d, RTT=%d, %d hops", (from, to, bw, rtt, hops) => {
    expect(networkPath(s, from, to)).toEqual({ bandwidthMbps: bw, rttMs: rtt, hops });
  });
  it("has no path without a common ancestor", () => {
    expect(networkPath(s, "island", "cloud")).toBeUndefined();
    expect(networkPath(s, "missing", "cloud")).toBeUndefined();
  });
  it("transfer time is 8·D/(B·1000) + RTT; a dead link never delivers", () => {
    expect(transferMs(200_000, 40, 3)).toBe(43);
    expect(serializationMs(1, Infinity)).toBe(0);
    expect(transferMs(1, 0, 0)).toBe(Infinity);
  });
});

describe("buildSnapshot", () => {
  const spec = (o: Partial<EdgeNodeLike["spec"]> = {}): EdgeNodeLike["spec"] => ({
    tier: "edge",
    capacity: { cpu: 1000, memoryMiB: 1000, gpu: 0, acceleratorTops: 0 },
    compute: { gflops: 5 },
    power: { computeW: 1, transmitW: 2, idleW: 0 },
    network: { uplinkMbps: 10, downlinkMbps: 20, rttMs: 3 },
    taints: [],
    unschedulable: false,
    ...o,
  });

  it("takes nodes without status as Ready and unallocated; measured links override the spec", () => {
    const s = buildSnapshot({
      nodes: [
        { metadata: { name: "a", labels: { x: "1" } }, spec: spec() },
        { metadata: { name: "b" }, spec: spec(), status: { phase: "NotReady" } },
        { metadata: { name: "c" }, spec: spec(), status: { conditions: [{ type: "Ready", status: "Unknown", reason: "", message: "" }] } },
        { metadata: { name: "d" }, spec: spec(), status: { phase: "Ready", allocated: { cpu: 300, load: 0.25 }, measured: { uplinkMbps: 7 } } },
      ],
    });
    expect(s.nodes.map((n) => n.ready)).toEqual([true, false, false, true]);
    expect(s.node("a")!.labels).toEqual({ x: "1" });
    expect(s.node("a")!.gflops).toBe(5);
    expect(s.allocationOf(s.nodeIndex("a"))).toEqual({ cpu: 0, memoryMiB: 0, gpu: 0, load: 0 });
    expect(s.allocationOf(s.nodeIndex("d"))).toEqual({ cpu: 300, memoryMiB: 0, gpu: 0, load: 0.25 });
    expect(s.node("d")!.network).toEqual({ uplinkMbps: 7, downlinkMbps: 20, rttMs: 3 });
  });

  it("with tasks, sums unfinished tasks instead of trusting status", () => {
    const task = (name: string, ns: string, nodeName: string | undefined, phase: string, cpu: number, typed: Pick<TaskLike["spec"], "load" | "priority"> = {}): TaskLike => ({
      metadata: { name, namespace: ns, creationTimestamp: "2026-01-01T00:00:00Z", ownerReferences: [{ kind: "InferenceService", name: "svc" }] },
      spec: { role: "tail", nodeName, resources: { cpu, memoryMiB: 10, gpu: 0 }, ...typed },
      status: { phase },
    });
    const s = buildSnapshot({
      nodes: [{ metadata: { name: "a" }, spec: spec(), status: { allocated: { cpu: 999 } } }],
      tenants: [{ metadata: { name: "t1", creationTimestamp: "2026-01-01T00:00:00Z" }, spec: { weight: 2, quota: { cpu: 500 } }, status: { usage: { cpu: 999 } } }],
      tasks: [task("run", "t1", "a", "Running", 100, { priority: 7, load: 0.3 }), task("done", "t1", "a", "Succeeded", 1000), task("pending", "t2", undefined, "Pending", 50)],
    });
    expect(s.allocationOf(0)).toEqual({ cpu: 100, memoryMiB: 10, gpu: 0, load: 0.3 });
    expect(s.usageOf("t1")).toEqual({ cpu: 100, memoryMiB: 10, gpu: 0, tasks: 1 });
    expect(s.usageOf("t2")).toEqual({ cpu: 50, memoryMiB: 10, gpu: 0, tasks: 1 });
    expect(s.tenant("t1")).toMatchObject({ weight: 2, quota: { cpu: 500 } });
    expect(s.tasksOn(0)[0]).toMatchObject({ name: "run", priority: 7, load: 0.3, createdAt: Date.parse("2026-01-01T00:00:00Z"), owner: "InferenceService/svc" });
  });
});
