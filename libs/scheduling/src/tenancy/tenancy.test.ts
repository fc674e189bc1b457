import { describe, expect, it } from "vitest";
import type { TaskRequest } from "../framework/types.js";
import type { TaskInit } from "../snapshot/snapshot.js";
import { planInference } from "../inference/planner.js";
import { cloud, device, edge, layers, model, service, snapshot, trainingJob } from "../testing/builders.js";
import { planTraining } from "../training/planner.js";
import { dominantShare, effectivePriority, orderQueue, weightedDominantShare } from "./fair-share.js";
import { selectPreemptionVictims } from "./preemption.js";
import { isOverQuota, quotaExceeded } from "./quota.js";

describe("quota", () => {
  const s = snapshot([edge("e")], {
    tenants: [{ name: "a", quota: { cpu: 1000, memoryMiB: 100, gpu: 1, tasks: 2 }, usage: { cpu: 900, memoryMiB: 50, tasks: 1 } }, { name: "free" }],
  });
  it.each([
    [{ cpu: 100, memoryMiB: 50, gpu: 1 }, 1, []],
    [{ cpu: 101, memoryMiB: 0, gpu: 0 }, 1, ["cpu"]],
    [{ cpu: 0, memoryMiB: 51, gpu: 2 }, 2, ["memoryMiB", "gpu", "tasks"]],
  ] as const)("request %o × %d tasks exceeds %o", (req, tasks, over) => {
    expect(quotaExceeded(s, "a", req, tasks)).toEqual(over);
  });
  it("has no limit for a tenant without quota or unknown to the snapshot", () => {
    expect(quotaExceeded(s, "free", { cpu: 1e9, memoryMiB: 1e9, gpu: 1e9 }, 1e9)).toEqual([]);
    expect(quotaExceeded(s, "ghost", { cpu: 1e9, memoryMiB: 1e9, gpu: 1e9 }, 1e9)).toEqual([]);
    expect(isOverQuota(s, "a")).toBe(false);
  });
});

describe("fair share queue", () => {
  // fleet: 10000 m cpu, 10000 MiB; a uses 20% cpu (weight 1), b 30% memory (weight 2 → 15%), c nothing
  const s = snapshot([edge("e", { capacity: { cpu: 10000, memoryMiB: 10000, gpu: 0 } })], {
    tenants: [{ name: "a", usage: { cpu: 2000 } }, { name: "b", weight: 2, usage: { memoryMiB: 3000 }, maxPriority: 5 }, { name: "c" }],
  });
  it("computes weighted dominant shares", () => {
    expect(dominantShare(s, "a")).toBe(0.2);
    expect(dominantShare(s, "b")).toBe(0.3);
    expect(weightedDominantShare(s, "b")).toBe(0.15);
    expect(weightedDominantShare(s, "nobody")).toBe(0);
  });
  it("orders by priority, then weighted dominant share, then age, then name", () => {
    const items = [
      { namespace: "a", name: "a-old", createdAt: "2026-01-01T00:00:00Z" },
      { namespace: "b", name: "b-1", createdAt: "2026-01-02T00:00:00Z" },
      { namespace: "c", name: "c-new", createdAt: "2026-01-03T00:00:00Z" },
      { namespace: "c", name: "c-old", createdAt: "2026-01-01T00:00:00Z" },
      { namespace: "a", name: "a-urgent", priority: 10 },
      { namespace: "b", name: "b-capped", priority: 10 },
      { namespace: "c", name: "c-tie-b", createdAt: "2026-01-01T00:00:00Z" },
    ];
    expect(orderQueue(s, items).map((i) => i.name)).toEqual(["a-urgent", "b-capped", "c-old", "c-tie-b", "c-new", "b-1", "a-old"]);
    expect(effectivePriority(s, { namespace: "b", priority: 10 })).toBe(5);
  });
});

describe("selectPreemptionVictims", () => {
  const t = (name: string, node: string, priority: number, cpu: number, createdAt = 0, o: Partial<TaskInit> = {}): TaskInit => ({
    name,
    namespace: "low",
    node,
    priority,
    createdAt,
    resources: { cpu, memoryMiB: 0 },
    ...o,
  });
  const cap = { capacity: { cpu: 1000, memoryMiB: 1000, gpu: 0 } };
  const want = (cpu: number, priority = 10, o: Partial<TaskRequest> = {}): TaskRequest => ({ tenant: "high", priority, resources: { cpu, memoryMiB: 0, gpu: 0 }, ...o });

  it("takes the fewest victims, on one node", () => {
    const s = snapshot([edge("n1", cap), edge("n2", cap)], {
      tasks: [t("a", "n1", 1, 300), t("b", "n1", 1, 300), t("c", "n1", 1, 400), t("big", "n2", 5, 900), t("d", "n2", 1, 100)],
    });
    const r = selectPreemptionVictims(s, want(700));
    expect(r).toMatchObject({ status: "Victims", node: "n2" });
    if (r.status === "Victims") expect(r.victims.map((v) => v.name)).toEqual(["big"]);
  });

  it("prefers lower priorities, then newer tasks, then the node's name", () => {
    const s = snapshot([edge("n1", cap), edge("n2", cap), edge("n3", cap)], {
      tasks: [t("p3", "n1", 3, 1000), t("p2-old", "n2", 2, 1000, 1), t("p2-new", "n3", 2, 1000, 2)],
    });
    const r = selectPreemptionVictims(s, want(500));
    expect(r.status === "Victims" && r.victims.map((v) => v.name)).toEqual(["p2-new"]);
    // within a node: of equal-size tasks, the lowest priority goes first, then the newest
    const big = { capacity: { cpu: 1500, memoryMiB: 1000, gpu: 0 } };
    const names = (r: ReturnType<typeof selectPreemptionVictims>) => (r.status === "Victims" ? r.victims.map((v) => v.name) : r.reason);
    const one = snapshot([edge("n", big)], { tasks: [t("x-old", "n", 1, 500, 1), t("x-new", "n", 1, 500, 2), t("y", "n", 0, 500, 0)] });
    expect(names(selectPreemptionVictims(one, want(500)))).toEqual(["y"]);
    const two = snapshot([edge("n", big)], { tasks: [t("x-old", "n", 1, 500, 1), t("x-new", "n", 1, 500, 2), t("z", "n", 1, 500, 0)] });
    expect(names(selectPreemptionVictims(two, want(500)))).toEqual(["x-new"]);
  });

  it("never evicts equal or higher priorities, nor spreads victims across nodes", () => {
    const s = snapshot([edge("n1", cap), edge("n2", cap)], { tasks: [t("same", "n1", 10, 1000), t("half", "n2", 1, 500), t("keep", "n2", 20, 500)] });
    const r = selectPreemptionVictims(s, want(600));
    expect(r.status).toBe("NotPossible");
    if (r.status === "NotPossible") expect(r.reason).toContain("0/2 nodes are available");
  });

  it("never picks a held run (a task already ended that its node still runs): nothing of it could be freed", () => {
    const s = snapshot([edge("n1", cap), edge("n2", cap)], { tasks: [t("b", "n2", 1, 600)] });
    const ghost = s.hold(t("ghost", "n1", 0, 900));
    expect(s.usageOf("low").tasks).toBe(1);
    expect(s.allocationOf(0).cpu).toBe(900);
    const r = selectPreemptionVictims(s, want(700));
    expect(r.status === "Victims" && [r.node, r.victims.map((v) => v.name)]).toEqual(["n2", ["b"]]);
    s.unhold(ghost);
    expect(s.allocationOf(0).cpu).toBe(0);
  });

  it("needs no victim where the task already fits", () => {
    const s = snapshot([edge("n1", cap)], { tasks: [t("a", "n1", 1, 100)] });
    expect(selectPreemptionVictims(s, want(500))).toMatchObject({ status: "Victims", node: "n1", victims: [] });
  });

  it("frees load as well as resources", () => {
    const s = snapshot([edge("n1", cap)], { tasks: [t("busy", "n1", 1, 0, 0, { load: 0.8 }), t("idle", "n1", 1, 0, 5)] });
    const r = selectPreemptionVictims(s, want(0, 10, { load: 0.5 }));
    expect(r.status === "Victims" && r.victims.map((v) => v.name)).toEqual(["busy"]);
  });

  it("only considers nodes the task may run on", () => {
    const s = snapshot([edge("n1", { ...cap, labels: { zone: "x" } }), edge("n2", cap)], { tasks: [t("a", "n1", 1, 1000), t("b", "n2", 1, 1000)] });
    const r = selectPreemptionVictims(s, want(500, 10, { nodeSelector: { zone: "x" } }));
    expect(r).toMatchObject({ node: "n1" });
  });

  it("is never done for a tenant over its quota", () => {
    const s = snapshot([edge("n1", cap)], { tenants: [{ name: "high", quota: { cpu: 100 } }], tasks: [t("a", "n1", 1, 1000)] });
    const r = selectPreemptionVictims(s, want(500));
    expect(r).toEqual({ status: "NotPossible", reason: 'no preemption for a tenant over its quota: exceeded quota of tenant "high": cpu (used 0 + requested 500 > 100)' });
  });

  it("does not change the snapshot", () => {
    const s = snapshot([edge("n1", cap)], { tasks: [t("a", "n1", 1, 1000)] });
    selectPreemptionVictims(s, want(500));
    expect(s.tasksOn(0).map((x) => x.name)).toEqual(["a"]);
    expect(s.allocationOf(0).cpu).toBe(1000);
  });

  it("falls back to greedy when the subset budget is exhausted, still on one node", () => {
    const tasks = Array.from({ length: 12 }, (_, i) => t(`s${i}`, "n", 1, 80 + i));
    const s = snapshot([edge("n", cap)], { tasks });
    // 1000 - Σ(80..91) = 10 free; to fit 400 free ≥ 390: five tasks are needed
    const exact = selectPreemptionVictims(s, want(400));
    const greedy = selectPreemptionVictims(s, want(400), { maxSubsetsPerNode: 3 });
    expect(exact.status === "Victims" && exact.victims.length).toBe(5);
    expect(greedy.status === "Victims" && greedy.victims.length).toBeGreaterThanOrEqual(5);
  });
});

describe("the default priority cap (tenants without maxPriority)", () => {
  const cap = { capacity: { cpu: 1000, memoryMiB: 1000, gpu: 0 } };
  const tenants = [{ name: "plain" }, { name: "trusted", maxPriority: 10 }];

  it("caps a tenant without maxPriority, and an unknown one, at the default; absent, nothing is capped", () => {
    const s = snapshot([edge("e", cap)], { tenants, defaultMaxPriority: 0 });
    expect(effectivePriority(s, { namespace: "plain", priority: 2_000_000_000 })).toBe(0);
    expect(effectivePriority(s, { namespace: "ghost", priority: 5 })).toBe(0);
    expect(effectivePriority(s, { namespace: "plain", priority: -5 })).toBe(-5);
    expect(effectivePriority(s, { namespace: "trusted", priority: 50 })).toBe(10);
    expect(effectivePriority(snapshot([edge("e", cap)], { tenants }), { namespace: "plain", priority: 7 })).toBe(7);
    // Queue order: the uncapped ask goes nowhere ahead of a capped one.
    const order = orderQueue(s, [
      { namespace: "plain", name: "greedy", priority: 2_000_000_000, createdAt: 2 },
      { namespace: "trusted", name: "urgent", priority: 5, createdAt: 3 },
      { namespace: "plain", name: "older", priority: 0, createdAt: 1 },
    ]);
    expect(order.map((i) => i.name)).toEqual(["urgent", "older", "greedy"]);
  });

  it("a preemptor stored above its tenant's cap preempts with the cap: nothing under the default", () => {
    const tasks = [{ name: "victim", namespace: "trusted", node: "e", priority: 0, resources: { cpu: 1000, memoryMiB: 0 } }];
    const s = snapshot([edge("e", cap)], { tenants, tasks, defaultMaxPriority: 0 });
    const greedy: TaskRequest = { tenant: "plain", priority: 2_000_000_000, resources: { cpu: 500, memoryMiB: 0, gpu: 0 } };
    expect(selectPreemptionVictims(s, greedy).status).toBe("NotPossible");
    // Allowed a cap, it preempts up to it.
    const allowed = snapshot([edge("e", cap)], { tenants, tasks, defaultMaxPriority: 1 });
    expect(selectPreemptionVictims(allowed, greedy)).toMatchObject({ status: "Victims", victims: [expect.objectContaining({ name: "victim" })] });
  });

  it("a task stored with a priority above its tenant's cap is preempted as if it had the cap", () => {
    const tasks = [{ name: "legacy", namespace: "plain", node: "e", priority: 2_000_000_000, resources: { cpu: 1000, memoryMiB: 0 } }];
    const s = snapshot([edge("e", cap)], { tenants, tasks, defaultMaxPriority: 0 });
    const r = selectPreemptionVictims(s, { tenant: "trusted", priority: 5, resources: { cpu: 500, memoryMiB: 0, gpu: 0 } });
    expect(r).toMatchObject({ status: "Victims", victims: [expect.objectContaining({ name: "legacy" })] });
  });

  it("planned tasks carry the capped priority", () => {
    const link = { network: { uplinkMbps: 8, downlinkMbps: 8, rttMs: 1 } };
    const nodes = [
      cloud("cloud", { hardware: "srv" }),
      edge("edge", { hardware: "srv", parent: "cloud", ...link }),
      device("dev", "edge", { hardware: "dev", labels: { data: "yes", role: "client" }, ...link }),
    ];
    const s = snapshot(nodes, { tenants, defaultMaxPriority: 0 });
    const profiled = model({
      layers: layers(2, { memoryMiB: 1 }),
      profiles: [
        { hardware: "dev", layerLatencyMs: [10, 10] },
        { hardware: "srv", layerLatencyMs: [1, 1] },
      ],
    });
    const svc = planInference(s, service("svc", { priority: 2_000_000_000 }, "plain"), profiled, { reserve: false });
    if (svc.status !== "Scheduled") throw new Error(svc.message);
    expect(svc.tasks.map((t) => t.priority)).toEqual(svc.tasks.map(() => 0));
    const job = planTraining(s, trainingJob("tj", { priority: 50, model: "m", participants: { min: 1 }, data: { selector: { matchLabels: { data: "yes" } } } }, "trusted"), profiled, {
      reserve: false,
    });
    if (job.status !== "Scheduled") throw new Error(job.message);
    expect(job.tasks.map((t) => t.priority)).toEqual(job.tasks.map(() => 10));
  });
});
