import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, inferenceServiceSpec, kindInfo } from "@eiaas/api";
import { startControlPlane, V, type ControlPlane } from "@eiaas/testing/control-plane";

let cp: ControlPlane;

const MODEL = {
  apiVersion: V,
  kind: "Model",
  metadata: { name: "m" },
  spec: { inputBytes: 1000, accuracy: 0.7, layers: [{ name: "l1", flops: 1e6, outputBytes: 100, memoryMiB: 10 }] },
};

const service = (name: string, priority: number) => ({
  apiVersion: V,
  kind: "InferenceService",
  metadata: { name },
  spec: { model: "m", architecture: "edge", clients: { selector: { matchLabels: { tier: "device" } } }, priority, resources: { cpu: 800, memoryMiB: 100 } },
});

beforeAll(async () => {
  cp = await startControlPlane({ deferSchedulerStart: true });
  // Priorities above 0 need a tenant allowed them (the default cap is 0).
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" }, spec: { maxPriority: 10 } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "legacy" } });
  await cp.startProtocolAgent("edge-1", { tier: "edge", capacity: { cpu: 1000, memoryMiB: 4096 }, compute: { gflops: 1000 } });
  await cp.startProtocolAgent(
    "dev-1",
    { tier: "device", parent: "edge-1", capacity: { cpu: 1000, memoryMiB: 1024 }, compute: { gflops: 10 }, network: { uplinkMbps: 100, downlinkMbps: 100, rttMs: 1 } },
    { tier: "device" },
  );
  for (const ns of ["acme", "legacy"]) await cp.apply(`/namespaces/${ns}/models`, MODEL);
  cp.scheduler!.start();
});
afterAll(() => cp.close());

describe("preemption", () => {
  it("a higher-priority service that fits nowhere evicts a lower-priority one on one node", async () => {
    await cp.apply("/namespaces/acme/inferenceservices", service("low", 0));
    await expect.poll(async () => (await cp.get("/namespaces/acme/inferenceservices/low")).status.phase, { timeout: 15_000 }).toBe("Running");
    await cp.apply("/namespaces/acme/inferenceservices", service("high", 10));
    await expect.poll(async () => (await cp.get("/namespaces/acme/inferenceservices/high")).status.phase, { timeout: 15_000 }).toBe("Running");
    const low = await cp.get("/namespaces/acme/inferenceservices/low");
    expect(low.status.phase).toBe("Pending");
    expect(low.status.conditions).toContainEqual(expect.objectContaining({ type: "Scheduled", status: "False" }));
    const events = (await cp.get("/namespaces/acme/events")).items;
    expect(events).toContainEqual(expect.objectContaining({ reason: "Preempted", involvedObject: expect.objectContaining({ name: "low" }) }));
    expect(events).toContainEqual(expect.objectContaining({ reason: "Preempting", involvedObject: expect.objectContaining({ name: "high" }) }));
    const preempted = (await cp.get("/namespaces/acme/tasks")).items.filter((t: any) => t.status.reason === "Preempted");
    expect(preempted.length).toBeGreaterThan(0);
  });

  it("never preempts for an equal or lower priority", async () => {
    await cp.apply("/namespaces/acme/inferenceservices", service("peer", 10));
    await new Promise((r) => setTimeout(r, 2000));
    expect((await cp.get("/namespaces/acme/inferenceservices/peer")).status.phase).toBe("Pending");
    expect((await cp.get("/namespaces/acme/inferenceservices/high")).status.phase).toBe("Running");
  });

  it("a workload stored with a priority above its tenant's cap (created before the cap) does not preempt", async () => {
    // Through the store, around the API's admission: as an object from before the default cap.
    const greedy = service("greedy", 2_000_000_000);
    await cp.store.create(kindInfo("InferenceService"), { ...greedy, metadata: { name: "greedy", namespace: "legacy" }, spec: inferenceServiceSpec.parse(greedy.spec) });
    await expect
      .poll(async () => (await cp.get("/namespaces/legacy/inferenceservices/greedy")).status.conditions ?? [], { timeout: 15_000 })
      .toContainEqual(expect.objectContaining({ type: "Scheduled", status: "False" }));
    await new Promise((r) => setTimeout(r, 2000));
    expect((await cp.get("/namespaces/legacy/inferenceservices/greedy")).status.phase).toBe("Pending");
    expect((await cp.get("/namespaces/acme/inferenceservices/high")).status.phase).toBe("Running");
    const events = (await cp.get("/namespaces/legacy/events")).items;
    expect(events).not.toContainEqual(expect.objectContaining({ reason: "Preempting" }));
  });

  it("tells neither tenant who the other is: the victim learns a higher-priority workload took the node", async () => {
    // The node to itself again.
    for (const name of ["low", "high", "peer"]) await request(cp.api.app).delete(`${API_PREFIX}/namespaces/acme/inferenceservices/${name}`).set(cp.admin()).expect(200);
    await request(cp.api.app).delete(`${API_PREFIX}/namespaces/legacy/inferenceservices/greedy`).set(cp.admin()).expect(200);
    await expect.poll(async () => (await cp.get("/namespaces/acme/tasks")).items.length, { timeout: 15_000 }).toBe(0);
    await expect.poll(async () => (await cp.get("/namespaces/legacy/tasks")).items.length, { timeout: 15_000 }).toBe(0);
    for (const tenant of ["quiet-co", "bully-co"]) {
      await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: tenant }, spec: { maxPriority: 10 } });
      await cp.apply(`/namespaces/${tenant}/models`, MODEL);
    }
    await cp.apply("/namespaces/quiet-co/inferenceservices", service("quiet-app", 0));
    await expect.poll(async () => (await cp.get("/namespaces/quiet-co/inferenceservices/quiet-app")).status.phase, { timeout: 15_000 }).toBe("Running");
    await cp.apply("/namespaces/bully-co/inferenceservices", service("greedy-cloud", 10));
    await expect.poll(async () => (await cp.get("/namespaces/bully-co/inferenceservices/greedy-cloud")).status.phase, { timeout: 15_000 }).toBe("Running");

    // Everything the victim's tenant can read: its tasks, its service, its events.
    const preempted = (await cp.get("/namespaces/quiet-co/tasks")).items.filter((t: any) => t.status.reason === "Preempted");
    expect(preempted.length).toBeGreaterThan(0);
    for (const t of preempted) expect(t.status.message).toBe("preempted on node edge-1: a workload of higher priority needed the node");
    const victimEvents = (await cp.get("/namespaces/quiet-co/events")).items;
    expect(victimEvents).toContainEqual(expect.objectContaining({ reason: "Preempted", message: expect.stringContaining("preempted: a workload of higher priority needed the node") }));
    const victimSees = JSON.stringify([await cp.get("/namespaces/quiet-co/tasks"), await cp.get("/namespaces/quiet-co/inferenceservices"), victimEvents]);
    expect(victimSees).not.toMatch(/bully-co|greedy-cloud/);
    // And the preemptor's: how many tasks went, never whose.
    const preemptorEvents = (await cp.get("/namespaces/bully-co/events")).items;
    expect(preemptorEvents).toContainEqual(expect.objectContaining({ reason: "Preempting", message: `evicted ${preempted.length} lower-priority task(s) on edge-1` }));
    expect(JSON.stringify([preemptorEvents, await cp.get("/namespaces/bully-co/inferenceservices"), await cp.get("/namespaces/bully-co/tasks")])).not.toMatch(/quiet-co|quiet-app/);
    // Admins can still find out: the scheduler logs who preempted what.
    expect(cp.schedulerLog.lines.some((l: any) => l.msg === "preempted tasks" && l.preemptor === "InferenceService bully-co/greedy-cloud")).toBe(true);
  });

  it("decides on the planner's code, not the words of its message: an SLO no node meets evicts nobody, whatever the names in it", async () => {
    // greedy-cloud (bully-co, priority 10) holds edge-1. A service of priority 20 whose only client
    // is named upload-cam misses its SLO on every option: its message ("client upload-cam: slo …")
    // reads "load", which a regex over the text took for a lack of room and evicted greedy-cloud
    // for nothing. The plan's code is UnschedulableAndUnresolvable: eviction cannot meet an SLO.
    await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "vip-co" }, spec: { maxPriority: 20 } });
    await cp.apply("/namespaces/vip-co/models", MODEL);
    await cp.startProtocolAgent(
      "upload-cam",
      { tier: "device", parent: "edge-1", capacity: { cpu: 1000, memoryMiB: 1024 }, compute: { gflops: 10 }, network: { uplinkMbps: 100, downlinkMbps: 100, rttMs: 1 } },
      { camera: "upload" },
    );
    const urgent = service("urgent", 20);
    await cp.apply("/namespaces/vip-co/inferenceservices", { ...urgent, spec: { ...urgent.spec, clients: { selector: { matchLabels: { camera: "upload" } } }, slo: { latencyMs: 0.001 } } });
    // Preemption runs before the condition is written: once it shows, the decision was made.
    await expect
      .poll(async () => (await cp.get("/namespaces/vip-co/inferenceservices/urgent")).status?.conditions ?? [], { timeout: 15_000 })
      .toContainEqual(expect.objectContaining({ type: "Scheduled", status: "False", reason: "Unschedulable", message: expect.stringContaining("client upload-cam: slo") }));
    expect((await cp.get("/namespaces/bully-co/tasks")).items.filter((t: any) => t.status.reason === "Preempted")).toEqual([]);
    expect((await cp.get("/namespaces/bully-co/inferenceservices/greedy-cloud")).status.phase).toBe("Running");
    expect((await cp.get("/namespaces/vip-co/events")).items).not.toContainEqual(expect.objectContaining({ reason: "Preempting" }));
    expect(cp.schedulerLog.lines.some((l: any) => l.msg === "preempted tasks" && l.preemptor === "InferenceService vip-co/urgent")).toBe(false);
  });
});
