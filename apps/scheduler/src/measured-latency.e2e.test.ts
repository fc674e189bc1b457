// Measurements fed back into planning, end to end (issue 20 part 7): a client's measured latency
// reported through the API re-plans its service when it is more than 20% off the prediction and a
// better plan exists, and not inside that band; what agents measure of their serving tasks reaches
// the planner as ModelProfiles. Real Postgres, Redis, API over a socket, scheduler, real agents.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, modelProfileName } from "@eiaas/api";
import { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

let cp: ControlPlane;
let tenant: string;

beforeAll(async () => {
  cp = await startControlPlane();
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  tenant = await cp.api.tenantToken("acme");
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("edge-1", edgeSpec("cloud-1"));
  await cp.startAgent("dev-1", deviceSpec("edge-1"), { client: "a" });
  await cp.apply("/namespaces/acme/models", MODEL);
});
afterAll(() => cp.close());

const service = () => cp.get("/namespaces/acme/inferenceservices/cam");
const report = (latencyMs: number) =>
  request(cp.api.app)
    .post(`${API_PREFIX}/namespaces/acme/inferenceservices/cam/latency`)
    .set({ Authorization: `Bearer ${tenant}` })
    .send({ client: "dev-1", latencyMs, count: 50 });

/** Lets the scheduler run a few cycles over what was just written. */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await cp.scheduler!.kick();
}

describe("a service re-plans on its clients' measured latency", () => {
  it("plans the split the cost model predicts fastest", async () => {
    await cp.apply("/namespaces/acme/inferenceservices", isvc("cam", "a"));
    const s = await waitFor(async () => ((await service()).status?.phase === "Running" ? service() : undefined), "cam Running");
    // By flops: layers 1-2 on the device (25 ms), 200 kB over 40 Mbit/s (40 ms + 2 ms RTT), layers
    // 3-5 on the edge (0.9 ms) = 67.9 ms. Next best: split at 4 (57.5 + 10 + 2 + 0.25 = 69.75 ms),
    // then the device alone (70 ms).
    expect(s.status.planRevision).toBe(1);
    expect(s.status.plan.clients[0]).toMatchObject({ client: "dev-1", architecture: "edge-device", split: 2, tailNode: "edge-1" });
    expect(s.status.plan.clients[0].predicted.latencyMs).toBeCloseTo(67.9, 6);
  });

  it("does not re-plan for a measurement 10% off the prediction, although other plans are estimated faster than it", async () => {
    const predicted = (await service()).status.plan.clients[0].predicted.latencyMs;
    expect((await report(predicted * 1.1).expect(200)).body.written).toBe(true);
    await settle();
    const s = await service();
    expect(s.status.planRevision).toBe(1);
    expect(s.status.measured).toEqual([expect.objectContaining({ client: "dev-1", split: 2, latencyMs: predicted * 1.1, predictedMs: predicted })]);
    expect(cp.schedulerLog.lines.some((l) => l.msg === "measured latency off its prediction: re-planning")).toBe(false);
  });

  it("re-plans for a measurement 30% off, to the plan that is now fastest, and keeps what it measured", async () => {
    const predicted = (await service()).status.plan.clients[0].predicted.latencyMs;
    await report(predicted * 1.3).expect(200);
    const s = await waitFor(async () => {
      const now = await service();
      return now.status.planRevision === 2 && now.status.phase === "Running" ? now : undefined;
    }, "cam re-planned and Running");
    // The split at 2 measured 88.3 ms; the split at 4 is estimated at 69.75 ms.
    expect(s.status.plan.clients[0]).toMatchObject({ client: "dev-1", architecture: "edge-device", split: 4, tailNode: "edge-1" });
    expect(s.status.plan.clients[0].predicted.latencyMs).toBeCloseTo(69.75, 6);
    expect(s.status.measured).toEqual([expect.objectContaining({ architecture: "edge-device", split: 2, latencyMs: predicted * 1.3 })]);
    expect(cp.schedulerLog.lines.some((l) => l.msg === "measured latency off its prediction: re-planning")).toBe(true);
  });

  it("does not flap: the new plan measured as predicted stays; measured off too, the option left behind is not chosen again on its estimate", async () => {
    await report(71).expect(200);
    await settle();
    await cp.scheduler!.kick();
    const s = await service();
    expect(s.status.planRevision).toBe(2);
    expect(s.status.measured.map((m: any) => m.split).sort()).toEqual([2, 4]);
    // The new split measured 30% off too: the split at 2 (estimated 67.9 ms, the best estimate) is
    // not taken again, it measured 88.3 ms; the device alone (estimated 70 ms) is.
    await report(69.75 * 1.3).expect(200);
    const next = await waitFor(async () => {
      const now = await service();
      return now.status.planRevision === 3 ? now : undefined;
    }, "cam re-planned again");
    expect(next.status.plan.clients[0]).toMatchObject({ client: "dev-1", architecture: "device", split: 5 });
  });
});

describe("agents' measured segment timings reach the planner", () => {
  it("what a serving task measured lands in the model's profile on its node, and the planner prices that node by it", async () => {
    // A second client, whose plan puts a tail on edge-1.
    await cp.startAgent("dev-2", deviceSpec("edge-1"), { client: "b" });
    await cp.apply("/namespaces/acme/inferenceservices", isvc("cam-b", "b"));
    const tail = await waitFor(async () => {
      const tasks = (await cp.get("/namespaces/acme/tasks?labelSelector=eiaas.io%2Fworkload%3Dcam-b")).items;
      return tasks.find((t: any) => t.spec.nodeName === "edge-1" && t.status.phase === "Running");
    }, "cam-b's tail running on edge-1");
    const agent = cp.agents.get("edge-1")!;
    const { from, to } = tail.spec.layers;
    for (let i = 0; i < 5; i++) expect(agent.recordSegmentTiming({ task: { namespace: "acme", name: tail.metadata.name }, fromLayer: from, toLayer: to, ms: 40 + i })).toBe(true);
    // Malformed samples are dropped.
    expect(agent.recordSegmentTiming({ task: { namespace: "acme", name: tail.metadata.name }, fromLayer: to, toLayer: from - 1, ms: 1 })).toBe(false);
    expect(agent.recordSegmentTiming({ task: { namespace: "acme", name: tail.metadata.name }, fromLayer: from, toLayer: to, ms: Number.NaN })).toBe(false);
    await agent.reportTimings();
    const profile = await cp.get(`/namespaces/acme/modelprofiles/${modelProfileName("m", "edge-1")}`);
    expect(profile.status.segments).toEqual([expect.objectContaining({ fromLayer: from, toLayer: to, medianMs: 42, count: 5, variant: "base", exitAfterLayer: 5 })]);
    // The next plan of a service on edge-1 is priced with it: the same split is now 42 ms of tail.
    await cp.apply("/namespaces/acme/inferenceservices", isvc("cam-c", "b", { architecture: "edge-device" }));
    const c = await waitFor(async () => (await cp.get("/namespaces/acme/inferenceservices/cam-c")).status?.plan, "cam-c planned");
    const plan = c.clients[0];
    expect(plan.tailNode).toBe("edge-1");
    const b = (await cp.get("/namespaces/acme/inferenceservices/cam-b")).status.plan.clients[0];
    // cam-b was planned by flops (tail layers well under a millisecond on edge-1); cam-c sees the measured 42 ms.
    expect(plan.predicted.latencyMs).toBeGreaterThan(b.predicted.latencyMs);
    // The API's dry run plans from the same measurements as the scheduler.
    const dry = await request(cp.api.app)
      .post(`${API_PREFIX}/namespaces/acme/inferenceservices`)
      .query({ dryRun: "All", planPreview: "true" })
      .set(cp.admin())
      .send(isvc("what-if", "b", { architecture: "edge-device" }))
      .expect(201);
    expect(dry.body.status.plan.clients[0]).toMatchObject({ client: "dev-2", split: plan.split, tailNode: "edge-1" });
    expect(dry.body.status.plan.clients[0].predicted.latencyMs).toBeCloseTo(plan.predicted.latencyMs, 9);
  });
});
