// /metrics after a small workload (design.md §7): API, scheduler and agent series plus the cluster
// gauges read on scrape, all from this process's one registry (as in the demo). Real API,
// scheduler, node agents, Postgres and Redis.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceSpec, edgeSpec, cloudSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

let cp: ControlPlane;

/** Samples of one metric in a Prometheus text exposition. */
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels include `labels` (undefined when none). */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(text, name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

beforeAll(async () => {
  cp = await startControlPlane();
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" }, spec: { quota: { cpu: 10_000, memoryMiB: 8_192, tasks: 20 } } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("edge-1", edgeSpec("cloud-1"));
  await cp.startAgent("dev-1", deviceSpec("edge-1"), { client: "cam", data: "yes" });
  await cp.startAgent("dev-2", deviceSpec("edge-1"), { data: "yes" });
});

afterAll(async () => {
  await cp?.close();
});

describe("/metrics after a small workload", () => {
  it("has the API, scheduling, queue, node, tenant and agent series with sane values", async () => {
    await cp.apply("/namespaces/acme/inferenceservices", isvc("cam", "cam", { architecture: "edge-device" }));
    await cp.apply("/namespaces/acme/inferenceservices", isvc("impossible", "cam", { slo: { latencyMs: 0.001 } }));
    await cp.apply("/namespaces/acme/trainingjobs", {
      apiVersion: V,
      kind: "TrainingJob",
      metadata: { name: "fl" },
      spec: {
        model: "m",
        mode: "federated",
        data: { selector: { matchLabels: { data: "yes" } } },
        participants: { min: 2 },
        rounds: 1,
        aggregation: { localSteps: 1, estimates: { localStepSeconds: 0.05, aggregationSeconds: 0.05 } },
      },
    });
    await waitFor(async () => (await cp.get("/namespaces/acme/inferenceservices/cam")).status?.phase === "Running", "cam Running");
    await waitFor(async () => (await cp.get("/namespaces/acme/trainingjobs/fl")).status?.phase === "Succeeded", "fl Succeeded");
    await waitFor(async () => (await cp.get("/namespaces/acme/inferenceservices/impossible")).status?.conditions?.some((c: any) => c.reason === "Unschedulable"), "impossible Unschedulable");
    const tasks: any[] = (await cp.get("/namespaces/acme/tasks")).items;
    const running = tasks.filter((t) => t.status.phase === "Running");
    const succeeded = tasks.filter((t) => t.status.phase === "Succeeded");
    expect(running.length).toBe(2);
    expect(succeeded.length).toBeGreaterThanOrEqual(3); // two participants and the aggregator

    // Tenant usage and quota name tenants: not on an anonymous scrape, with an admin token.
    const open = (await request(cp.api.app).get("/metrics").expect(200)).text;
    expect(value(open, "eiaas_tasks", { phase: "Running" })).toBe(running.length);
    expect(samples(open, "eiaas_tenant_usage")).toEqual([]);
    expect(samples(open, "eiaas_tenant_quota")).toEqual([]);
    expect(open).not.toContain("acme");
    const res = await request(cp.api.app)
      .get("/metrics")
      .set({ Authorization: `Bearer ${cp.api.adminToken}` })
      .expect(200);
    const m = res.text;

    // API: by route template and code.
    expect(value(m, "eiaas_api_request_duration_seconds_count", { method: "POST", route: "/apis/eiaas.io/v1alpha1/namespaces/:ns/:plural", code: "201" })).toBe(4);
    expect(value(m, "eiaas_api_request_duration_seconds_count", { method: "PUT", route: "/apis/eiaas.io/v1alpha1/namespaces/:ns/:plural/:name/status", code: "200" })).toBeGreaterThanOrEqual(
      running.length + 2 * succeeded.length,
    );

    // Scheduling attempts: cam and fl placed (at least once), impossible refused on every cycle it was tried.
    expect(value(m, "eiaas_scheduling_attempts_total", { result: "scheduled" })).toBeGreaterThanOrEqual(2);
    expect(value(m, "eiaas_scheduling_attempts_total", { result: "unschedulable" })).toBeGreaterThanOrEqual(1);
    expect(value(m, "eiaas_scheduling_attempts_total", { result: "error" }) ?? 0).toBe(0);
    for (const kind of ["InferenceService", "TrainingJob"]) {
      expect(value(m, "eiaas_scheduling_plan_duration_seconds_count", { kind })).toBeGreaterThanOrEqual(1);
      expect(value(m, "eiaas_scheduling_plan_duration_seconds_bucket", { kind, le: "+Inf" })).toBe(value(m, "eiaas_scheduling_plan_duration_seconds_count", { kind }));
    }
    const cycles = value(m, "eiaas_scheduler_cycle_duration_seconds_count", { result: "ok" })!;
    expect(cycles).toBeGreaterThanOrEqual(1);
    expect(value(m, "eiaas_scheduler_cycle_duration_seconds_sum", { result: "ok" })).toBeGreaterThan(0);
    expect(value(m, "eiaas_scheduler_leader")).toBe(1);

    // Bound and dispatched: every task was bound once and enqueued once.
    expect(value(m, "eiaas_scheduler_bound_tasks_total")).toBe(tasks.length);
    expect(value(m, "eiaas_scheduler_dispatched_tasks_total")).toBe(tasks.length);

    // Queue depth: the schedule queue always; node queues with tasks awaiting their agent (none now).
    expect(value(m, "eiaas_queue_depth", { queue: "schedule", state: "waiting" })).toBe(0);
    for (const s of samples(m, "eiaas_queue_depth")) expect(Number.isInteger(s.value) && s.value >= 0).toBe(true);

    // Nodes and tasks as Postgres has them.
    expect(value(m, "eiaas_nodes", { condition: "Ready" })).toBe(4);
    expect(value(m, "eiaas_nodes", { condition: "NotReady" })).toBe(0);
    expect(value(m, "eiaas_tasks", { phase: "Running" })).toBe(running.length);
    expect(value(m, "eiaas_tasks", { phase: "Succeeded" })).toBe(succeeded.length);

    // Tenant usage vs quota: what the running tasks hold, against the Tenant's quota.
    const cpu = running.reduce((a, t) => a + t.spec.resources.cpu, 0);
    expect(value(m, "eiaas_tenant_usage", { tenant: "acme", resource: "cpu" })).toBe(cpu);
    expect(value(m, "eiaas_tenant_usage", { tenant: "acme", resource: "tasks" })).toBe(running.length);
    expect(value(m, "eiaas_tenant_quota", { tenant: "acme", resource: "cpu" })).toBe(10_000);
    expect(value(m, "eiaas_tenant_quota", { tenant: "acme", resource: "memory_mib" })).toBe(8_192);
    expect(value(m, "eiaas_tenant_quota", { tenant: "acme", resource: "tasks" })).toBe(20);
    expect(value(m, "eiaas_tenant_quota", { tenant: "acme", resource: "gpu" })).toBeUndefined();

    // Agents: the service's two tasks still run; the training tasks ran to completion.
    expect(value(m, "eiaas_agent_tasks_running")).toBe(running.length);
    expect(value(m, "eiaas_agent_task_runs_total", { result: "succeeded" })).toBe(succeeded.length);
  });
});
