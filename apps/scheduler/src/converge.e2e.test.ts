// Agents converge on the control plane's view after a drain (issue "Converge after every fault",
// item 1): every task the drain evicted stops on the drained node's agent — at once, even while its
// services have nowhere else to go (nothing replaces and deletes the evicted tasks then) — and the
// services run on another node once there is one. Real Postgres, Redis, API, scheduler and agents.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

let cp: ControlPlane;
const CLIENTS = ["c1", "c2", "c3", "c4", "c5", "c6", "c7"];

beforeAll(async () => {
  cp = await startControlPlane({ scheduler: { resyncMs: 200, repairMs: 500 } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.startAgent("cloud-1", cloudSpec());
  // The only edge server: every service starts there.
  await cp.startAgent("edge-a", edgeSpec("cloud-1"));
  for (const c of CLIENTS) await cp.startAgent(`dev-${c}`, deviceSpec("cloud-1"), { client: c });
}, 60_000);

afterAll(async () => {
  await cp?.close();
});

const tasksOf = async (workload: string) => (await cp.get(`/namespaces/acme/tasks?labelSelector=eiaas.io/workload=${workload}`)).items as any[];

describe("a drained node's agent", () => {
  it("stops every task the drain evicted though its services have nowhere to go yet; they run on a node that joins later", async () => {
    for (const c of CLIENTS) await cp.apply("/namespaces/acme/inferenceservices", isvc(`svc-${c}`, c, { architecture: "edge" }));
    const onA = await waitFor(
      async () => {
        const tasks = (await Promise.all(CLIENTS.map((c) => tasksOf(`svc-${c}`)))).flat();
        return tasks.length === CLIENTS.length && tasks.every((t) => t.spec.nodeName === "edge-a" && t.status.phase === "Running") ? tasks : undefined;
      },
      "every service Running on edge-a",
      30_000,
    );
    const agentA = cp.agents.get("edge-a")!;
    const evicted = onA.map((t) => `acme/${t.metadata.name}/1`).sort();
    expect(agentA.runningKeys().sort()).toEqual(evicted);

    // What `eictl drain edge-a` does: cordon, then evict each task of the node.
    await request(cp.api.app)
      .patch(`${API_PREFIX}/edgenodes/edge-a`)
      .set(cp.admin())
      .set("Content-Type", "application/merge-patch+json")
      .send({ spec: { unschedulable: true } })
      .expect(200);
    for (const t of onA) await request(cp.api.app).post(`${API_PREFIX}/namespaces/acme/tasks/${t.metadata.name}/eviction`).set(cp.admin()).send({}).expect(201);

    // The agent stops all of them, and says so in its heartbeat.
    await waitFor(() => agentA.runningKeys().length === 0, "edge-a's agent to stop every evicted run", 30_000);
    expect(cp.runtime.running().filter((k) => evicted.includes(k))).toEqual([]);
    await waitFor(async () => JSON.stringify((await cp.get("/edgenodes/edge-a")).status.runningTasks) === "[]", "edge-a's heartbeat listing no run");
    // Their services wait for room (no other edge server); nothing was reported over the evictions.
    for (const t of onA) expect((await cp.get(`/namespaces/acme/tasks/${t.metadata.name}`)).status).toMatchObject({ phase: "Failed", reason: "Evicted" });
    // A node joins: the services run there.
    await cp.startAgent("edge-b", edgeSpec("cloud-1"));
    await waitFor(
      async () => {
        const tasks = (await Promise.all(CLIENTS.map((c) => tasksOf(`svc-${c}`)))).flat().filter((t) => t.status.phase !== "Failed");
        return tasks.length === CLIENTS.length && tasks.every((t) => t.spec.nodeName === "edge-b" && t.status.phase === "Running");
      },
      "every service Running on edge-b",
      30_000,
    );
    for (const t of onA) {
      const now = await request(cp.api.app).get(`${API_PREFIX}/namespaces/acme/tasks/${t.metadata.name}`).set(cp.admin());
      if (now.status === 200) expect(now.body.status).toMatchObject({ phase: "Failed", reason: "Evicted" });
    }
    expect(cp.scheduler!.lastError).toBeUndefined();
  }, 120_000);
});
