// Node lifecycle end to end (design.md §6): an agent stops heartbeating → its node turns NotReady and
// gets the unreachable NoExecute taint → after the eviction period its tasks fail with NodeLost →
// the workload is re-planned onto another node and Running again; the agent coming back clears
// the taint. Real Postgres, Redis, API, scheduler and node agents.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TAINT_UNREACHABLE } from "@eiaas/api";
import { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane({ scheduler: { resyncMs: 200, gracePeriodMs: 1_500, evictionMs: 1_000 } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("edge-1", edgeSpec("cloud-1"));
  await cp.startAgent("edge-2", edgeSpec("cloud-1", { network: { uplinkMbps: 50, downlinkMbps: 50, rttMs: 20 } }));
  await cp.startAgent("dev-1", deviceSpec("edge-1"), { client: "cam" });
});

afterAll(async () => {
  await cp?.close();
});

const tasksOf = async (workload: string) => (await cp.get(`/namespaces/acme/tasks?labelSelector=eiaas.io/workload=${workload}`)).items as any[];

describe("node lifecycle", () => {
  it("reschedules the tasks of a node whose agent stopped heartbeating, then untaints it when it returns", async () => {
    await cp.apply("/namespaces/acme/inferenceservices", isvc("cam", "cam", { architecture: "edge" }));
    await waitFor(async () => (await cp.get("/namespaces/acme/inferenceservices/cam")).status?.phase === "Running", "cam Running");
    const before = await tasksOf("cam");
    expect(before.map((t) => t.spec.nodeName)).toEqual(["edge-1"]);
    const lost = before[0];

    await cp.stopAgent("edge-1");

    // NotReady with the unreachable taint after the grace period.
    const node = await waitFor(async () => {
      const n = await cp.get("/edgenodes/edge-1");
      return n.status?.phase === "NotReady" && (n.spec.taints ?? []).some((t: any) => t.key === TAINT_UNREACHABLE) ? n : undefined;
    }, "edge-1 NotReady and tainted");
    expect(node.spec.taints).toContainEqual(expect.objectContaining({ key: TAINT_UNREACHABLE, effect: "NoExecute" }));
    expect(node.status.conditions).toContainEqual(expect.objectContaining({ type: "Ready", status: "Unknown", reason: "NodeStatusUnknown" }));

    // After the eviction period its task fails with NodeLost and the service moves to edge-2.
    await waitFor(async () => {
      const svc = await cp.get("/namespaces/acme/inferenceservices/cam");
      const tasks = await tasksOf("cam");
      // The status catches up with the task reports on the scheduler's next cycle: wait for both.
      return (
        svc.status.phase === "Running" &&
        tasks.length === 1 &&
        tasks[0].spec.nodeName === "edge-2" &&
        tasks[0].status.phase === "Running" &&
        (svc.status.endpoints ?? []).every((e: any) => e.node === "edge-2")
      );
    }, "cam Running again on edge-2");
    const svc = await cp.get("/namespaces/acme/inferenceservices/cam");
    expect(svc.status.plan.clients[0].tailNode ?? svc.status.plan.clients[0].headNode).toBe("edge-2");
    expect(svc.status.endpoints.map((e: any) => e.node)).toEqual(["edge-2"]);

    // The lost task went through Failed/NodeLost before being replaced (the watch log keeps it).
    const history = await cp.db.pool.query(`SELECT object FROM watch_events WHERE kind = 'Task' AND name = $1 AND object->'status'->>'phase' = 'Failed' ORDER BY resource_version`, [
      lost.metadata.name,
    ]);
    expect(history.rows.map((r) => r.object.status.reason)).toContain("NodeLost");
    const events = (await cp.get("/namespaces/acme/events")).items as any[];
    expect(events.some((e) => e.reason === "NodeLost" && e.involvedObject?.name === "cam")).toBe(true);
    expect(cp.scheduler!.lastError).toBeUndefined();

    // The agent comes back: Ready again, the taint is removed by the controller.
    await cp.startAgent("edge-1", edgeSpec("cloud-1"));
    await waitFor(async () => {
      const n = await cp.get("/edgenodes/edge-1");
      return n.status?.phase === "Ready" && !(n.spec.taints ?? []).some((t: any) => t.key === TAINT_UNREACHABLE);
    }, "edge-1 Ready and untainted");
  });
});
