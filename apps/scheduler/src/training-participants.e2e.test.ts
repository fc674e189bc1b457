// Federated training when participant nodes are lost (their agents stop, past the grace period and
// the eviction timeout): the job is re-planned with the data nodes that remain and succeeds; one
// that needs the lost node waits for it and runs again when it returns; one that waits longer than
// spec.participants.lostDeadlineSeconds fails with ParticipantsLost. Real API, scheduler and node
// agents on real Postgres and Redis.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cloudSpec, deviceSpec, edgeSpec, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

let cp: ControlPlane;
const DATA = ["dev-1", "dev-2", "dev-3"];

beforeAll(async () => {
  // A node is NotReady 1 s after its last heartbeat, and its tasks fail (NodeLost) 0.5 s later.
  cp = await startControlPlane({ scheduler: { resyncMs: 200, gracePeriodMs: 1_000, evictionMs: 500 } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("edge-1", edgeSpec("cloud-1"));
  for (const d of DATA) await cp.startAgent(d, deviceSpec("edge-1"), { data: "yes" });
}, 60_000);

afterAll(async () => {
  await cp?.close();
});

/** A federated job over the data nodes that runs ~`seconds` in the simulated runtime. */
function job(name: string, participants: Record<string, number>, seconds: number) {
  return {
    apiVersion: V,
    kind: "TrainingJob",
    metadata: { name },
    spec: {
      model: "m",
      mode: "federated",
      data: { selector: { matchLabels: { data: "yes" } } },
      participants,
      rounds: Math.round(seconds / 0.3),
      aggregation: { localSteps: 1, estimates: { localStepSeconds: 0.2, aggregationSeconds: 0.1 } },
      resources: { cpu: 100, memoryMiB: 64 },
    },
  };
}

const get = (name: string) => cp.get(`/namespaces/acme/trainingjobs/${name}`);
const scheduled = (o: any) => o.status?.conditions?.find((c: any) => c.type === "Scheduled");
const tasksOf = async (name: string) => (await cp.get(`/namespaces/acme/tasks?labelSelector=eiaas.io/workload=${name}`)).items as any[];
const nodePhase = async (name: string) => (await cp.get(`/edgenodes/${name}`)).status?.phase;

/** Waits until every task of the job's current plan runs. */
async function running(name: string): Promise<any> {
  return waitFor(
    async () => {
      const j = await get(name);
      const current = (await tasksOf(name)).filter((t) => t.metadata.labels["eiaas.io/plan-revision"] === String(j.status?.planRevision));
      return j.status?.phase === "Running" && current.length > 0 && current.every((t) => t.status?.phase === "Running") ? j : undefined;
    },
    `${name} Running`,
    30_000,
  );
}

async function loseNode(name: string): Promise<void> {
  await cp.stopAgent(name);
  await waitFor(async () => (await nodePhase(name)) === "NotReady", `${name} NotReady`, 20_000);
}

async function returnNode(name: string): Promise<void> {
  await cp.startAgent(name, deviceSpec("edge-1"), { data: "yes" });
  await waitFor(async () => (await nodePhase(name)) === "Ready", `${name} Ready again`, 20_000);
}

describe("a federated TrainingJob losing participant nodes", () => {
  it("is re-planned onto the data nodes that remain and succeeds", async () => {
    await cp.apply("/namespaces/acme/trainingjobs", job("remains", { min: 2 }, 6));
    const first = await running("remains");
    expect([...first.status.plan.participants].sort()).toEqual(DATA);
    await loseNode("dev-3");
    const replanned = await waitFor(
      async () => {
        const j = await get("remains");
        return j.status?.planRevision > first.status.planRevision ? j : undefined;
      },
      "remains re-planned",
      20_000,
    );
    expect([...replanned.status.plan.participants].sort()).toEqual(["dev-1", "dev-2"]);
    expect(scheduled(replanned)).toMatchObject({ status: "True" });
    const done = await waitFor(
      async () => {
        const j = await get("remains");
        return j.status?.phase === "Succeeded" || j.status?.phase === "Failed" ? j : undefined;
      },
      "remains finished",
      40_000,
    );
    expect(done.status.phase).toBe("Succeeded");
    await returnNode("dev-3");
  });

  it("below participants.min waits for the lost node (not Failed) and runs again when it returns", async () => {
    await cp.apply("/namespaces/acme/trainingjobs", job("patient", { min: 3 }, 6));
    const first = await running("patient");
    await loseNode("dev-3");
    const waiting = await waitFor(
      async () => {
        const j = await get("patient");
        return scheduled(j)?.reason === "ParticipantsLost" ? j : undefined;
      },
      "patient waiting for its participants",
      20_000,
    );
    expect(waiting.status.phase).not.toBe("Failed");
    expect(scheduled(waiting)).toMatchObject({ status: "False" });
    expect(scheduled(waiting).message).toMatch(/need at least 3 \(participants\.min\).*waiting for participants until .*\(participants\.lostDeadlineSeconds: 300\)/);

    await returnNode("dev-3");
    const again = await waitFor(
      async () => {
        const j = await get("patient");
        return j.status?.planRevision > first.status.planRevision && scheduled(j)?.status === "True" ? j : undefined;
      },
      "patient placed again",
      20_000,
    );
    expect([...again.status.plan.participants].sort()).toEqual(DATA);
    const done = await waitFor(
      async () => {
        const j = await get("patient");
        return j.status?.phase === "Succeeded" || j.status?.phase === "Failed" ? j : undefined;
      },
      "patient finished",
      40_000,
    );
    expect(done.status.phase).toBe("Succeeded");
  });

  it("fails with ParticipantsLost once too few were placeable for longer than lostDeadlineSeconds", async () => {
    await cp.apply("/namespaces/acme/trainingjobs", job("strict", { min: 3, lostDeadlineSeconds: 2 }, 30));
    await running("strict");
    await loseNode("dev-3");
    const failed = await waitFor(
      async () => {
        const j = await get("strict");
        return j.status?.phase === "Failed" ? j : undefined;
      },
      "strict Failed",
      30_000,
    );
    const complete = failed.status.conditions.find((c: any) => c.type === "Complete");
    expect(complete).toMatchObject({ status: "False", reason: "ParticipantsLost" });
    expect(complete.message).toMatch(/fewer than participants\.min were placeable for 2s/);
    // Its remaining participants and aggregator are stopped.
    await waitFor(async () => (await tasksOf("strict")).every((t) => t.status?.phase === "Failed" || t.status?.phase === "Succeeded"), "strict's tasks stopped", 20_000);
    const events = (await cp.get("/namespaces/acme/events")).items.filter((e: any) => e.involvedObject?.name === "strict");
    expect(events.map((e: any) => e.reason)).toContain("ParticipantsLost");
  });
});
