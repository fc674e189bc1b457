// One workload's failure is its own (issue "Hardening: no tenant can stall the control plane"): a
// workload whose bind fails on its rows, or whose planning throws, gets Scheduled=False with the
// cause and an Event, and is retried with exponential backoff, while every other tenant's workload
// is planned and bound in the same cycle. Before, one such failure failed every cycle for everyone.
// Real Postgres (a CHECK constraint refuses one workload's task rows), Redis, API, scheduler,
// protocol-level agents.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, kindInfo } from "@eiaas/api";
import { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane({ deferSchedulerStart: true });
  for (const t of ["acme", "beta"]) {
    await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: t } });
    await cp.apply(`/namespaces/${t}/models`, MODEL);
  }
  await cp.startProtocolAgent("cloud-1", cloudSpec());
  await cp.startProtocolAgent("edge-1", edgeSpec("cloud-1"));
  await cp.startProtocolAgent("dev-1", deviceSpec("edge-1"), { client: "cam" });
  await cp.startProtocolAgent("dev-2", deviceSpec("edge-1"), { client: "door" });
  // What this test makes fail: any task row of a workload named bad-* (a check, as a stand-in for
  // any error writing one workload's rows: a clashing name, a value Postgres refuses, ...).
  await cp.db.pool.query(`ALTER TABLE tasks ADD CONSTRAINT e2e_refuses_bad CHECK (name NOT LIKE 'bad-%') NOT VALID`);
});
afterAll(() => cp.close());

const workload = (ns: string, name: string) => cp.get(`/namespaces/${ns}/inferenceservices/${name}`);
const scheduledCondition = async (ns: string, name: string) => ((await workload(ns, name)).status?.conditions ?? []).find((c: any) => c.type === "Scheduled");
const eventsOf = async (ns: string, name: string) => ((await cp.get(`/namespaces/${ns}/events`)).items as any[]).filter((e) => e.involvedObject.name === name);
const cycleFailures = () => cp.schedulerLog.lines.filter((l) => l.msg === "scheduling cycle failed; retrying on the next one");
const retries = (workload: string) => cp.schedulerLog.lines.filter((l) => l.msg?.startsWith("workload not scheduled") && l.workload === workload).map((l) => l.retryMs as number);

describe("failure isolation", () => {
  it("a bind that fails on one tenant's rows and a plan that throws fail those workloads alone; the others bind in the same cycle", async () => {
    await cp.apply("/namespaces/acme/inferenceservices", isvc("bad-cam", "cam", { architecture: "device" }));
    await cp.apply("/namespaces/beta/inferenceservices", isvc("door", "door", { architecture: "device" }));
    // A stored spec the planner cannot read (written past the API's validation, as an older
    // version or a hand edit of the database could leave it): planning it throws.
    await cp.store.create(kindInfo("InferenceService"), { apiVersion: V, metadata: { name: "unreadable", namespace: "acme" }, spec: { model: "m" } } as any);

    // One cycle plans all three.
    const t0 = Date.now();
    const stats = await cp.scheduler!.workloads.cycle(new Date(t0));
    expect({ planned: stats.planned, failed: stats.failed, unschedulable: stats.unschedulable, boundOwners: new Set(stats.boundTasks.map((t) => t.metadata.namespace)) }).toEqual({
      planned: 3,
      failed: 2,
      unschedulable: 0,
      boundOwners: new Set(["beta"]),
    });
    const bind = await scheduledCondition("acme", "bad-cam");
    expect(bind).toMatchObject({ status: "False", reason: "BindFailed" });
    expect(bind.message).toMatch(/^bind failed: .*"e2e_refuses_bad"/);
    // The cause is this workload's own: nothing of the other tenant is named.
    expect(bind.message).not.toMatch(/beta|door/);
    expect(await scheduledCondition("acme", "unreadable")).toMatchObject({ status: "False", reason: "PlanFailed", message: expect.stringMatching(/^planning failed: /) });
    expect((await workload("acme", "bad-cam")).status.phase).toBe("Pending");
    await cp.scheduler!.workloads.events.drain();
    expect(await eventsOf("acme", "bad-cam")).toContainEqual(expect.objectContaining({ type: "Warning", reason: "BindFailed", message: expect.stringMatching(/retrying in 1s$/) }));
    expect(await eventsOf("acme", "unreadable")).toContainEqual(expect.objectContaining({ type: "Warning", reason: "PlanFailed" }));

    // Within their backoff (the cycle's clock half a second on), another cycle does not try them.
    const again = await cp.scheduler!.workloads.cycle(new Date(t0 + 500));
    expect({ planned: again.planned, failed: again.failed }).toEqual({ planned: 0, failed: 0 });

    // The scheduler runs on; the other tenant's service runs, the failing ones are retried with
    // growing waits, and no cycle fails.
    cp.scheduler!.start();
    await waitFor(async () => (await workload("beta", "door")).status?.phase === "Running", "beta/door Running");
    await waitFor(() => retries("acme/bad-cam").length >= 3, "bad-cam retried twice after its first failure", 30_000);
    expect(retries("acme/bad-cam").slice(0, 3)).toEqual([1_000, 2_000, 4_000]);
    expect(cycleFailures()).toEqual([]);
    expect(cp.scheduler!.lastError).toBeUndefined();

    // A spec change starts the backoff over.
    const seen = retries("acme/bad-cam").length;
    await request(cp.api.app)
      .patch(`${API_PREFIX}/namespaces/acme/inferenceservices/bad-cam`)
      .set(cp.admin())
      .set("Content-Type", "application/merge-patch+json")
      .send({ spec: { resources: { cpu: 150, memoryMiB: 64 } } })
      .expect(200);
    // The waits only grew until now (1, 2, 4, 8 s...): a 1 s wait again is the count started over.
    await waitFor(() => retries("acme/bad-cam").slice(seen).includes(1_000), "bad-cam tried again after its spec changed, its backoff started over", 30_000);

    // Once its rows can be written, it is placed on its next try.
    await cp.db.pool.query(`ALTER TABLE tasks DROP CONSTRAINT e2e_refuses_bad`);
    await waitFor(async () => (await workload("acme", "bad-cam")).status?.phase === "Running", "acme/bad-cam Running once its rows are accepted", 30_000);
    expect(await scheduledCondition("acme", "bad-cam")).toMatchObject({ status: "True", reason: "Scheduled" });
    expect(await scheduledCondition("acme", "unreadable")).toMatchObject({ status: "False", reason: "PlanFailed" });
    expect(cycleFailures()).toEqual([]);
  }, 60_000);
});
