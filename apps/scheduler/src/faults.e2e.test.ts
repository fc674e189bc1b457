// Faults get clear results, not crashes (issue 4): a task for a node that vanished, a report for an
// unknown task, Redis restarted during dispatch (queues rebuilt from Postgres, nothing lost).
// Real Postgres, a private Redis this file restarts, the API, the scheduler and node agents.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, kindInfo } from "@eiaas/api";
import { startRedis, type RunningRedis } from "@eiaas/testing";
import { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

let redis: RunningRedis;
let cp: ControlPlane;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  redis = await startRedis();
  cp = await startControlPlane({ redisUrl: redis.url, scheduler: { resyncMs: 200, repairMs: 500 } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("edge-b", edgeSpec("cloud-1"));
  await cp.startAgent("dev-1", deviceSpec("cloud-1"), { client: "cam" });
  await cp.startAgent("dev-2", deviceSpec("cloud-1"), { client: "door" });
});

afterAll(async () => {
  await cp?.close();
  await redis?.stop();
  process.off("unhandledRejection", onUnhandled);
});

const tasksOf = async (workload: string) => (await cp.get(`/namespaces/acme/tasks?labelSelector=eiaas.io/workload=${workload}`)).items as any[];
const phaseOf = async (name: string) => (await cp.get(`/namespaces/acme/inferenceservices/${name}`)).status?.phase;
const cycleFailures = () => cp.schedulerLog.lines.filter((l) => l.msg === "scheduling cycle failed; retrying on the next one");

/** Registers a node through the API and heartbeats once, but runs no agent: its queue is never consumed. */
async function registerWithoutAgent(name: string, spec: object): Promise<string> {
  const boot = await cp.api.tokens.mint({ role: "bootstrap" });
  const reg = await request(cp.api.app)
    .post(`${API_PREFIX}/edgenodes/${name}/register`)
    .set({ Authorization: `Bearer ${boot.token}` })
    .send({ spec })
    .expect(201);
  await request(cp.api.app)
    .post(`${API_PREFIX}/edgenodes/${name}/heartbeat`)
    .set({ Authorization: `Bearer ${reg.body.token}` })
    .send({})
    .expect(204);
  return reg.body.token;
}

describe("faults", () => {
  it("a task dispatched to a node that was then deleted fails and its workload is re-planned", async () => {
    // edge-a wins the tie with edge-b by name; its tasks are dispatched but nobody consumes them.
    await registerWithoutAgent("edge-a", edgeSpec("cloud-1"));
    await cp.apply("/namespaces/acme/inferenceservices", isvc("cam", "cam", { architecture: "edge" }));
    const [stranded] = await waitFor(async () => {
      const t = await tasksOf("cam");
      return t.length === 1 && t[0].status.phase === "Dispatched" ? t : undefined;
    }, "cam's task Dispatched");
    expect(stranded.spec.nodeName).toBe("edge-a");

    await request(cp.api.app).delete(`${API_PREFIX}/edgenodes/edge-a`).set(cp.admin()).expect(200);

    await waitFor(async () => {
      const t = await tasksOf("cam");
      return (await phaseOf("cam")) === "Running" && t.length === 1 && t[0].spec.nodeName === "edge-b" && t[0].status.phase === "Running";
    }, "cam re-planned onto edge-b and Running");
    const history = await cp.db.pool.query(`SELECT object FROM watch_events WHERE kind = 'Task' AND name = $1 AND object->'status'->>'phase' = 'Failed'`, [stranded.metadata.name]);
    expect(history.rows[0]?.object.status).toMatchObject({ phase: "Failed", reason: "NodeLost" });
    expect(history.rows[0]?.object.status.message).toMatch(/edge-a/);
    // The job left behind on the vanished node's queue is removed with it.
    await waitFor(async () => (await cp.queue.depth("node.edge-a")).waiting === 0, "the stranded job removed");
    expect(cycleFailures()).toEqual([]);
  });

  it("answers a status report for an unknown task with a 404 Status", async () => {
    const agentToken = await registerWithoutAgent("edge-z", edgeSpec("cloud-1"));
    const r = await request(cp.api.app)
      .put(`${API_PREFIX}/namespaces/acme/tasks/no-such-task/status`)
      .set({ Authorization: `Bearer ${agentToken}` })
      .send({ apiVersion: V, kind: "Task", metadata: { name: "no-such-task" }, status: { phase: "Running", attempt: 1 } });
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ kind: "Status", status: "Failure", reason: "NotFound", code: 404 });
    await request(cp.api.app).delete(`${API_PREFIX}/edgenodes/edge-z`).set(cp.admin()).expect(200);
  });

  it("dispatches a task another writer left Scheduled on a node, and it runs there", async () => {
    await cp.store.create(kindInfo("Task"), {
      apiVersion: V,
      metadata: { name: "by-hand", namespace: "acme" },
      spec: { nodeName: "dev-1", role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } },
      status: { phase: "Scheduled", attempt: 1 },
    } as any);
    const ran = await waitFor(
      async () => {
        const t = await cp.get("/namespaces/acme/tasks/by-hand");
        return t.status.phase === "Running" ? t : undefined;
      },
      "the hand-made task Running on dev-1",
      20_000,
    );
    expect(ran.status).toMatchObject({ phase: "Running", attempt: 1 });
  });

  it("rebuilds the queues from Postgres after Redis restarts during dispatch: nothing lost, nothing re-planned", async () => {
    // dev-2's agent is stopped: its task is dispatched and waits in Redis, then Redis loses it.
    await cp.stopAgent("dev-2");
    await cp.apply("/namespaces/acme/inferenceservices", isvc("door", "door", { architecture: "device" }));
    const [waiting] = await waitFor(async () => {
      const t = await tasksOf("door");
      return t.length === 1 && t[0].status.phase === "Dispatched" ? t : undefined;
    }, "door's task Dispatched");
    await waitFor(async () => (await cp.queue.depth("node.dev-2")).waiting === 1, "door's job waiting in Redis");

    // Redis goes away (and comes back empty: no persistence). Meanwhile a new service is created:
    // it is planned and bound in Postgres, its dispatch fails until Redis is back.
    await redis.stop();
    await cp.apply("/namespaces/acme/inferenceservices", isvc("cam2", "cam", { architecture: "device" }));
    await waitFor(async () => (await tasksOf("cam2")).length === 1, "cam2 bound while Redis is down");
    await waitFor(() => cycleFailures().length > 0, "a dispatch to fail while Redis is down");
    // Committed Dispatched by the bind; its job is not in Redis (the enqueue failed): the repair
    // pass puts it there once Redis is back.
    expect((await tasksOf("cam2"))[0].status.phase).toBe("Dispatched");
    await redis.restart();

    await cp.startAgent("dev-2", deviceSpec("cloud-1"), { client: "door" });
    await waitFor(async () => (await phaseOf("door")) === "Running" && (await phaseOf("cam2")) === "Running", "door and cam2 Running after the restart", 30_000);
    // The same tasks ran: the queues were rebuilt, not the plans.
    const door = await tasksOf("door");
    expect(door.map((t) => t.metadata.uid)).toEqual([waiting.metadata.uid]);
    expect(door[0].status).toMatchObject({ phase: "Running", attempt: 1 });
    expect((await tasksOf("cam2"))[0].status).toMatchObject({ phase: "Running", attempt: 1 });
    // Every task of every service is Running, and the scheduler kept cycling through the outage.
    const all = (await cp.get("/namespaces/acme/tasks")).items as any[];
    expect(all.map((t) => t.status.phase)).toEqual(all.map(() => "Running"));
    const cycles = cp.scheduler!.cycles;
    await waitFor(() => cp.scheduler!.cycles > cycles && cp.scheduler!.lastError === undefined, "a clean cycle");
    expect(unhandled).toEqual([]);
  });
});
