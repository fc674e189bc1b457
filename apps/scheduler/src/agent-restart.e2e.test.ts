// An agent that comes back after its node's eviction (issue "Converge after every fault", item 1:
// ghost runs after a restart): the job of its failed task does not run again — the node lifecycle
// removed it (its lock had lapsed: an active job, which removing only waiting jobs missed), and an
// agent given such a job anyway does not run a task the control plane failed. With one slot, a
// ghost would keep the service's new task Dispatched for ever (the old task is deleted only once the
// new one runs). Real Postgres, Redis, API, scheduler and agents (the harness's agents lose a job's
// lock after 5 s; the stalled check runs every 2 s).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

let cp: ControlPlane;

beforeAll(async () => {
  // Silent for 4 + 3 s before eviction: past the 5 s lock of the job it held.
  cp = await startControlPlane({ scheduler: { resyncMs: 200, repairMs: 500, gracePeriodMs: 4_000, evictionMs: 3_000 } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("edge-r", edgeSpec("cloud-1"), {}, { slots: 1 });
  await cp.startAgent("dev-r", deviceSpec("cloud-1"), { client: "r" });
}, 60_000);

afterAll(async () => {
  await cp?.close();
});

const tasksOf = async (workload: string) => (await cp.get(`/namespaces/acme/tasks?labelSelector=eiaas.io/workload=${workload}`)).items as any[];

describe("an agent back after its node's eviction", () => {
  it("does not run its failed task's job again; the service's new task gets the node's only slot", async () => {
    await cp.apply("/namespaces/acme/inferenceservices", isvc("svc-r", "r", { architecture: "edge" }));
    const [first] = await waitFor(
      async () => {
        const t = await tasksOf("svc-r");
        return t.length === 1 && t[0].spec.nodeName === "edge-r" && t[0].status.phase === "Running" ? t : undefined;
      },
      "svc-r Running on edge-r",
      30_000,
    );
    const oldKey = `acme/${first.metadata.name}/1`;

    // The agent goes away holding the job (handed back: active until its lock lapses); the node is
    // evicted, and the service has nowhere else to go.
    await cp.stopAgent("edge-r");
    await waitFor(async () => (await cp.get(`/namespaces/acme/tasks/${first.metadata.name}`)).status.reason === "NodeLost", "the task failed NodeLost", 30_000);

    const agent = await cp.startAgent("edge-r", edgeSpec("cloud-1"), {}, { slots: 1 });
    const [second] = await waitFor(
      async () => {
        const t = (await tasksOf("svc-r")).filter((x) => x.metadata.name !== first.metadata.name);
        return t.length === 1 && t[0].spec.nodeName === "edge-r" && t[0].status.phase === "Running" ? t : undefined;
      },
      "svc-r Running again on edge-r with a new task",
      30_000,
    );
    expect(agent.runningKeys()).toEqual([`acme/${second.metadata.name}/1`]);
    expect(cp.runtime.running()).not.toContain(oldKey);
    // The old job is gone from the queue: nothing left to hand back to a consumer.
    const depth = await cp.agentQueue.depth("node.edge-r");
    expect(depth.active + depth.waiting).toBe(1);
  }, 120_000);
});
