// An agent paused (SIGSTOP) past its node's eviction, then resumed (SIGCONT), stops the runs the
// control plane failed meanwhile (issue "Converge after every fault", item 1). The agent runs as
// deployed (`node --import tsx apps/agent/src/main.ts`, its own Redis ACL user) with one slot: the
// service is re-planned onto the same node once it is back, and its new task can only start once the
// ghost of the old one is gone. Real Postgres, a private Redis, the API, the scheduler.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployedAgentQueues, startRedis, type RunningRedis } from "@eiaas/testing";
import { cloudSpec, deviceSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const NODE = "edge-p";

let redis: RunningRedis;
let deployed: ReturnType<typeof deployedAgentQueues>;
let cp: ControlPlane;
let agent: ChildProcess | undefined;
let stateDir: string;

beforeAll(async () => {
  redis = await startRedis();
  deployed = deployedAgentQueues(redis.url);
  stateDir = await mkdtemp(join(tmpdir(), "eiaas-paused-agent-"));
  cp = await startControlPlane({
    redisUrl: redis.url,
    // BullMQ's default prefix: what agents' ACL users are limited to.
    queue: deployed.queue,
    scheduler: { resyncMs: 200, repairMs: 500, gracePeriodMs: 3_000, evictionMs: 2_000 },
    api: deployed.api,
  });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("dev-1", deviceSpec("cloud-1"), { client: "cam" });
}, 60_000);

afterAll(async () => {
  if (agent && agent.exitCode === null) {
    agent.kill("SIGCONT");
    agent.kill("SIGKILL");
  }
  await cp?.close();
  deployed?.close();
  await redis?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

/** Starts the agent process for edge-p (one slot, heartbeats every 0.5 s); resolves once it serves its ops port. */
async function spawnAgent(bootstrapToken: string): Promise<string> {
  const lines: Array<Record<string, any>> = [];
  const args = ["--import", "tsx", "apps/agent/src/main.ts", "--node", NODE, "--tier", "edge", "--parent", "cloud-1", "--hardware", "k40"];
  args.push("--cpu", "8000", "--memory-mib", "16384", "--gflops", "1000", "--uplink-mbps", "100", "--downlink-mbps", "100", "--rtt-ms", "10");
  args.push("--server", cp.url, "--slots", "1", "--heartbeat-seconds", "0.5", "--state-dir", stateDir);
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, EIAAS_BOOTSTRAP_TOKEN: bootstrapToken, EIAAS_METRICS_PORT: "0", EIAAS_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  agent = child;
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
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`the agent exited (${code}): ${stderr}`))));
  const serving = await Promise.race([waitFor(() => lines.find((l) => l.msg === "serving /livez, /readyz and /metrics"), "the agent's ops server", 75_000), exited]);
  const ops = `http://127.0.0.1:${serving.port}`;
  // The ops server answers from the start; ready once registered and consuming its queue.
  await Promise.race([waitFor(async () => (await fetch(`${ops}/readyz`)).status === 200, "the agent ready", 75_000), exited]);
  return ops;
}

const tasksOf = async (workload: string) => (await cp.get(`/namespaces/acme/tasks?labelSelector=eiaas.io/workload=${workload}`)).items as any[];
const gauge = async (ops: string) => Number(/^eiaas_agent_tasks_running (\d+)$/m.exec(await (await fetch(`${ops}/metrics`)).text())?.[1]);

describe("an agent paused past its node's eviction", () => {
  it("stops, once resumed, the run the control plane failed meanwhile, so the service runs again on its node", { timeout: 180_000 }, async () => {
    const boot = await cp.api.tokens.mint({ role: "bootstrap" });
    const ops = await spawnAgent(boot.token);
    await cp.apply("/namespaces/acme/inferenceservices", isvc("cam", "cam", { architecture: "edge" }));
    const [first] = await waitFor(
      async () => {
        const t = await tasksOf("cam");
        return t.length === 1 && t[0].spec.nodeName === NODE && t[0].status.phase === "Running" ? t : undefined;
      },
      "cam Running on edge-p",
      30_000,
    );
    await waitFor(async () => (await gauge(ops)) === 1, "the agent running it");

    agent!.kill("SIGSTOP");
    // Silent past the grace and eviction periods: its task fails with NodeLost. The service has
    // nowhere else to go (the only edge server), so the failed task stays, not replaced.
    await waitFor(async () => (await cp.get(`/namespaces/acme/tasks/${first.metadata.name}`)).status.reason === "NodeLost", "the task failed NodeLost", 30_000);
    agent!.kill("SIGCONT");

    // Back: the agent stops the failed run; the service's new task takes the one slot and runs.
    const [second] = await waitFor(
      async () => {
        const t = (await tasksOf("cam")).filter((x) => x.metadata.name !== first.metadata.name);
        return t.length === 1 && t[0].spec.nodeName === NODE && t[0].status.phase === "Running" ? t : undefined;
      },
      "cam Running again on edge-p with a new task",
      60_000,
    );
    const node = await waitFor(async () => {
      const n = await cp.get(`/edgenodes/${NODE}`);
      return JSON.stringify(n.status.runningTasks) === JSON.stringify([`acme/${second.metadata.name}`]) ? n : undefined;
    }, "edge-p reporting only the new run");
    expect(node.status.phase).toBe("Ready");
    expect(await gauge(ops)).toBe(1);
    // The failed task was never reported over.
    const old = await cp.db.pool.query(`SELECT object FROM watch_events WHERE kind = 'Task' AND name = $1 ORDER BY resource_version`, [first.metadata.name]);
    const phases = old.rows.map((r) => `${r.object.status?.phase}${r.object.status?.reason ? `/${r.object.status.reason}` : ""}`);
    expect(phases.slice(phases.indexOf("Failed/NodeLost"))).not.toContain("Running");
    expect(cp.scheduler!.lastError).toBeUndefined();
  });
});
