// SIGTERM during a dispatch loses nothing (issue 6): the scheduler runs as its own process
// (`node --import tsx apps/scheduler/src/main.ts`, as deployed) against the test Postgres and a
// private Redis; workloads arrive while it plans, binds and dispatches; it is stopped with SIGTERM
// mid-way and started again. Every task must end bound exactly once, dispatched at most once, run by
// exactly one agent, Running — none lost, none duplicated. Its /readyz and /metrics are checked on
// the way.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderMetrics } from "@eiaas/telemetry";
import { startRedis, type RunningRedis } from "@eiaas/testing";
import { bindingViolations, cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SERVICES = 24;

interface SchedulerProcess {
  child: ChildProcess;
  lines: Array<Record<string, any>>;
  port: number;
  exited: Promise<number | null>;
}

let redis: RunningRedis;
let cp: ControlPlane;
const children: ChildProcess[] = [];

/** Starts `apps/scheduler/src/main.ts` as a child process; resolves once its ops server listens. */
async function startScheduler(): Promise<SchedulerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "apps/scheduler/src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: cp.api.db.url,
      REDIS_URL: redis.url,
      EIAAS_METRICS_PORT: "0",
      EIAAS_RESYNC_SECONDS: "0.2",
      // This control plane's agents renew Postgres leases; the process reads Redis ones: keep nodes Ready.
      EIAAS_NODE_GRACE_SECONDS: "3600",
      EIAAS_LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const lines: Array<Record<string, any>> = [];
  let buffer = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) lines.push(JSON.parse(line));
    }
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const serving = await Promise.race([
    waitFor(() => lines.find((l) => l.msg === "serving /livez, /readyz and /metrics"), "the scheduler's ops server", 30_000),
    exited.then((code) => {
      throw new Error(`the scheduler exited (${code}) before serving: ${stderr}`);
    }),
  ]);
  return { child, lines, port: serving.port, exited };
}

const get = async (port: number, path: string) => {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, text: await r.text() };
};

beforeAll(async () => {
  redis = await startRedis();
  // No in-process scheduler; the queues under BullMQ's default prefix, as the process uses them.
  cp = await startControlPlane({ redisUrl: redis.url, scheduler: false, queue: { prefix: "bull" } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  // Enough slots for every service's task on each node: servers hold their slot while they run.
  await cp.startAgent("cloud-1", cloudSpec(), {}, { slots: 64 });
  await cp.startAgent("edge-1", edgeSpec("cloud-1"), {}, { slots: 64 });
  for (const d of ["dev-1", "dev-2", "dev-3"]) await cp.startAgent(d, deviceSpec("edge-1"), { client: "cam" }, { slots: 64 });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await cp?.close();
  await redis?.stop();
});

describe("scheduler shutdown", () => {
  it("SIGTERM during a dispatch loses nothing: after a restart every task is bound exactly once and Running", { timeout: 180_000 }, async () => {
    const first = await startScheduler();
    await waitFor(async () => (await get(first.port, "/readyz")).text === "ok (leader)", "the first scheduler leading");
    const scrape = await get(first.port, "/metrics");
    expect(scrape.status).toBe(200);
    expect(scrape.text).toMatch(/^eiaas_scheduler_leader 1$/m);
    expect(scrape.text).toMatch(/^eiaas_nodes\{condition="Ready"\} 5$/m);

    // Workloads arrive while it works; it is stopped as soon as it has bound some of them.
    const names = Array.from({ length: SERVICES }, (_, i) => `svc-${i}`);
    for (const name of names.slice(0, SERVICES / 2)) await cp.apply("/namespaces/acme/inferenceservices", isvc(name, "cam"));
    await waitFor(async () => (await cp.db.pool.query(`SELECT 1 FROM tasks LIMIT 1`)).rowCount, "the first tasks bound", 30_000, 5);
    first.child.kill("SIGTERM");
    for (const name of names.slice(SERVICES / 2)) await cp.apply("/namespaces/acme/inferenceservices", isvc(name, "cam"));
    expect(await first.exited).toBe(0);
    expect(first.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["shutting down: finishing the running cycle, then releasing leadership", "stopped"]));
    expect(first.lines.filter((l) => l.level >= 50)).toEqual([]);

    const second = await startScheduler();
    const services = await waitFor(
      async () => {
        const list = (await cp.get("/namespaces/acme/inferenceservices")).items as any[];
        return list.length === SERVICES && list.every((s) => s.status?.phase === "Running") ? list : undefined;
      },
      "every service Running after the restart",
      60_000,
      100,
    ).catch(async (err) => {
      // Say what is stuck, not only that something is.
      const stuck = ((await cp.get("/namespaces/acme/tasks")).items as any[]).filter((t) => t.status.phase !== "Running");
      throw new Error(`${(err as Error).message}; tasks not Running: ${stuck.map((t) => `${t.metadata.name}@${t.spec.nodeName}=${t.status.phase}`).join(", ")}`);
    });

    const tasks = (await cp.get("/namespaces/acme/tasks")).items as any[];
    expect(await bindingViolations(cp.db.pool)).toEqual([]);
    for (const svc of services) {
      // Planned once: nothing was lost that had to be planned again.
      expect(svc.status.planRevision).toBe(1);
      const own = tasks.filter((t) => t.metadata.ownerReferences[0].uid === svc.metadata.uid);
      expect(own.length).toBeGreaterThan(0);
      expect(new Set(own.map((t) => t.metadata.annotations["eiaas.io/task-key"])).size).toBe(own.length);
      const size = own[0].metadata.labels["eiaas.io/plan-size"];
      if (size !== undefined) expect(own.length).toBe(Number(size));
    }
    for (const t of tasks) expect(t.status).toMatchObject({ phase: "Running", attempt: 1 });

    // Marked Dispatched at most once (the bind commits it; a restart re-enqueues Dispatched tasks
    // under the same job id without writing them again).
    const dispatchedTwice = await cp.db.pool.query(
      `SELECT name, count(*)::int AS n FROM watch_events WHERE kind = 'Task' AND object->'status'->>'phase' = 'Dispatched' GROUP BY name HAVING count(*) > 1`,
    );
    expect(dispatchedTwice.rows).toEqual([]);
    // Run once each: this process's agents run exactly as many task attempts as there are tasks.
    const agents = (await renderMetrics()).body;
    expect(agents).toMatch(new RegExp(`^eiaas_agent_tasks_running ${tasks.length}$`, "m"));
    expect(agents).not.toMatch(/^eiaas_agent_task_runs_total\{result="(?:error|handed_back)"\} [1-9]/m);

    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});
