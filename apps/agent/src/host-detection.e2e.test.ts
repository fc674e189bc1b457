// Agents as deployed (`node --import tsx apps/agent/src/main.ts`) against the real API server and
// scheduler (real Postgres, a private Redis with the agents' ACL users): an agent given no capacity
// flags registers what it detects of this machine, and the planner places an InferenceService that
// requests CPU and memory on it; fields an admin set survive the agent's restart; an agent started
// before the API registers once the API is up; a registration the API refuses for good ends the
// agent with one line and exit code 2.
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { deployedAgentQueues, freePort, startRedis, type RunningRedis } from "@eiaas/testing";
import { isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";
import { EXIT_REGISTRATION_REFUSED } from "./registration.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

let redis: RunningRedis;
let deployed: ReturnType<typeof deployedAgentQueues>;
let cp: ControlPlane;
let stateDir: string;
const children = new Set<ChildProcess>();

interface AgentProcess {
  child: ChildProcess;
  /** Its log lines, parsed. */
  lines: Array<Record<string, any>>;
  stderr: () => string;
  exited: Promise<number | null>;
}

function spawnAgent(args: string[], env: NodeJS.ProcessEnv = {}): AgentProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "apps/agent/src/main.ts", "--state-dir", stateDir, "--heartbeat-seconds", "1", ...args], {
    cwd: ROOT,
    env: { ...process.env, EIAAS_LOG_LEVEL: "info", EIAAS_BOOTSTRAP_TOKEN: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const lines: Array<Record<string, any>> = [];
  let buffer = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) lines.push(JSON.parse(line));
    }
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, lines, stderr: () => stderr, exited };
}

async function stopAgent(a: AgentProcess): Promise<void> {
  a.child.kill("SIGTERM");
  expect(await a.exited).toBe(0);
}

const node = async (name: string) => (await request(cp.api.app).get(`${API_PREFIX}/edgenodes/${name}`).set(cp.admin()).expect(200)).body;
const bootstrapToken = async () => (await cp.api.tokens.mint({ role: "bootstrap", maxUses: null })).token;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "eiaas-agent-detect-"));
  redis = await startRedis();
  deployed = deployedAgentQueues(redis.url);
  cp = await startControlPlane({
    redisUrl: redis.url,
    // The prefix agents' Redis users are limited to, and an ACL user per registering node.
    queue: deployed.queue,
    api: deployed.api,
  });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await cp?.close();
  deployed?.close();
  await redis?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe("an agent describes its host", () => {
  it(
    "with no capacity flags it registers this machine's CPUs, memory and measured speed; an admin's fields survive its restart; a service requesting CPU and memory runs on it",
    { timeout: 240_000 },
    async () => {
      const args = ["--node", "host-1", "--server", cp.url, "--runtime", "process", "--slots", "2", "--labels", "client=host"];
      let agent = spawnAgent(args, { EIAAS_BOOTSTRAP_TOKEN: await bootstrapToken() });
      await waitFor(() => agent.lines.some((l) => l.msg === "agent registered and consuming its queue") || agent.child.exitCode !== null, "the agent registered", 120_000);
      expect(agent.child.exitCode, agent.stderr()).toBeNull();
      const registered = await node("host-1");
      expect(registered.spec.tier).toBe("device");
      expect(registered.spec.capacity.cpu).toBeGreaterThan(0);
      expect(registered.spec.capacity.memoryMiB).toBeGreaterThan(0);
      expect(registered.spec.capacity.tasks).toBe(2);
      expect(registered.spec.compute.gflops).toBeGreaterThan(0);
      expect(registered.metadata.labels).toMatchObject({ client: "host", "kubernetes.io/os": "linux", "kubernetes.io/arch": expect.stringMatching(/^[a-z0-9]+$/) });
      expect(agent.lines.find((l) => l.msg === "detected what the spec left unset")?.detected).toMatchObject({ cpu: expect.any(String), memory: expect.any(String), gflops: expect.any(String) });

      // The admin pins the hardware class and a speed measured with a real runtime; the agent
      // restarts, detects again, and keeps them.
      // A merge patch: the node's status moves under it (heartbeats), which a PUT of the object read
      // above would meet with 409.
      await request(cp.api.app)
        .patch(`${API_PREFIX}/edgenodes/host-1`)
        .set(cp.admin())
        .set("content-type", "application/merge-patch+json")
        .send({ spec: { hardware: "workstation", compute: { gflops: 250 } } })
        .expect(200);
      await stopAgent(agent);
      agent = spawnAgent(args);
      await waitFor(() => agent.lines.some((l) => l.msg === "agent registered and consuming its queue") || agent.child.exitCode !== null, "the agent registered again", 120_000);
      expect(agent.child.exitCode, agent.stderr()).toBeNull();
      const restarted = await node("host-1");
      expect(restarted.spec).toMatchObject({ hardware: "workstation", compute: { gflops: 250 }, capacity: { cpu: registered.spec.capacity.cpu, memoryMiB: registered.spec.capacity.memoryMiB } });

      // The planner places a service that requests CPU and memory on it (the whole model on the device).
      await cp.apply("/namespaces/acme/inferenceservices", isvc("on-host", "host", { architecture: "device", resources: { cpu: 500, memoryMiB: 256 }, template: { command: ["sleep", "600"] } }));
      const task = await waitFor(
        async () => {
          const items = (await cp.get("/namespaces/acme/tasks?labelSelector=eiaas.io/workload=on-host")).items as any[];
          return items.find((t) => t.spec.nodeName === "host-1" && t.status?.phase === "Running");
        },
        "the service's task Running on host-1",
        90_000,
      );
      // The service's 256 MiB, plus what the planner adds for the model's weights.
      expect(task.spec.resources.cpu).toBe(500);
      expect(task.spec.resources.memoryMiB).toBeGreaterThanOrEqual(256);
      await stopAgent(agent);
    },
  );
});

describe("registration retry", () => {
  it("an agent started before the API registers once the API comes up, logging each failure at warn", { timeout: 180_000 }, async () => {
    const port = await freePort();
    const agent = spawnAgent(["--node", "early-1", "--server", `http://127.0.0.1:${port}`, "--tier", "edge", "--cpu", "2000", "--memory-mib", "2048", "--gpu", "0", "--gflops", "10"], {
      EIAAS_BOOTSTRAP_TOKEN: await bootstrapToken(),
      EIAAS_METRICS_PORT: "0",
    });
    const refused = await waitFor(() => agent.lines.find((l) => l.msg === "registration failed: retrying"), "a retried registration", 60_000);
    expect(refused).toMatchObject({ level: 40, node: "early-1", attempt: 1, reason: expect.stringMatching(/^refused \(ECONNREFUSED\)/) });
    expect(refused.retryInMs).toBeGreaterThan(0);
    // Meanwhile alive (a liveness probe leaves it be) but not ready.
    const ops = `http://127.0.0.1:${agent.lines.find((l) => l.msg === "serving /livez, /readyz and /metrics")!.port}`;
    expect((await fetch(`${ops}/livez`)).status).toBe(200);
    const notReady = await fetch(`${ops}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toContain("not registered yet");
    // The API comes up on the agent's address.
    const server = http.createServer(cp.api.app);
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    try {
      await waitFor(() => agent.lines.some((l) => l.msg === "agent registered and consuming its queue") || agent.child.exitCode !== null, "the agent registered", 90_000);
      expect(agent.child.exitCode, agent.stderr()).toBeNull();
      expect((await node("early-1")).spec.capacity).toMatchObject({ cpu: 2000, memoryMiB: 2048 });
      await stopAgent(agent);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("a registration refused for good (an unknown bootstrap token, labels the API refuses) ends the agent at once: one line, exit code 2", { timeout: 120_000 }, async () => {
    const flags = ["--server", cp.url, "--cpu", "1000", "--memory-mib", "1024", "--gpu", "0", "--gflops", "1"];
    for (const [args, token, message] of [
      [["--node", "late-1", ...flags], "not-a-token-of-this-cluster", /^error: node "late-1": the API refused the bootstrap token \(401 Unauthorized\): it is unknown, used up or expired; .*\n$/],
      [["--node", "late-2", "--labels", "bad key=x", ...flags], await bootstrapToken(), /^error: node "late-2": the API refused the registration \(422 Invalid\): metadata\.labels.*\n$/],
    ] as const) {
      const agent = spawnAgent([...args], { EIAAS_BOOTSTRAP_TOKEN: token });
      expect(await agent.exited, agent.stderr()).toBe(EXIT_REGISTRATION_REFUSED);
      expect(agent.stderr()).toMatch(message);
      expect(agent.lines.filter((l) => l.msg === "registration failed: retrying")).toEqual([]);
    }
  });
});
