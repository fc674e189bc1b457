// The multi-process deployment of the issue, on this machine: Postgres and Redis, two API servers
// (apps/api-server/src/main.ts) behind a TCP load balancer, two schedulers
// (apps/scheduler/src/main.ts), the simulated fleet (./fleet-main.ts) and standalone agents
// (apps/agent/src/main.ts, process runtime: their tasks are real processes the checker can see).
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@eiaas/db";
import { startLoadBalancer, type LoadBalancer } from "./balancer.js";
import type { ChaosConfig } from "./config.js";
import { ApiClient } from "./http.js";
import { agentSpecArgs, layout, type Layout, type LayoutNode } from "./layout.js";
import { abandonRun, killEveryProcess, ManagedProcess, onAbandon, type UnexpectedExit } from "./processes.js";
import { PostgresService, RedisService } from "./services.js";
import { taskProcesses } from "./task-processes.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface SchedulerProcess {
  process: ManagedProcess;
  metricsPort: number;
}

export interface AgentProcess {
  process: ManagedProcess;
  node: LayoutNode;
  metricsPort: number;
}

export interface Deployment {
  config: ChaosConfig;
  layout: Layout;
  /** A marker in every task's environment: the standalone agents' task processes carry it. */
  runId: string;
  logDir: string;
  pg: PostgresService;
  redis: RedisService;
  lb: LoadBalancer;
  /** The load balancer's URL: what every client uses. */
  url: string;
  caPem: string;
  adminToken: string;
  apis: ManagedProcess[];
  schedulers: SchedulerProcess[];
  fleet: ManagedProcess;
  fleetPort: number;
  agents: AgentProcess[];
  /** Exits the harness did not cause. */
  unexpected: UnexpectedExit[];
  /** Every process of the control plane (for liveness and memory). */
  processes(): ManagedProcess[];
  /** The index of the scheduler that says it leads (its /readyz: "ok (leader)"), if any. */
  leader(): Promise<number | undefined>;
  /** Waits until API server `i` answers /readyz 200 on its own port. */
  waitApiReady(i: number): Promise<void>;
  /** Waits until the fleet process has registered all its nodes. */
  waitFleetReady(): Promise<void>;
  /** Stops everything; removes the data, and the logs too unless `keepLogs`. */
  close(keepLogs: boolean): Promise<void>;
}

/** What every process of the deployment is started with. */
interface Launch {
  config: ChaosConfig;
  layout: Layout;
  logDir: string;
  unexpected: UnexpectedExit[];
  pg: PostgresService;
  redis: RedisService;
  apiDataDir: string;
  /** The agents' and the fleet's node credentials (kept across their restarts). */
  stateDir: string;
  caFile: string;
  adminToken: string;
  bootstrapToken: string;
}

/** Thrown by a readiness check that can never pass (the process exited): ends the wait at once. */
class Hopeless extends Error {}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err instanceof Hopeless) throw err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** GET of a plain-HTTP ops endpoint (/readyz of a scheduler or agent, /running of the fleet). */
export function getLocal(port: number, path: string, timeoutMs = 2_000): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, timeout: timeoutMs }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

/** A node process running TypeScript from the repository (as the operator ran them). */
function tsProcess(l: Launch, name: string, script: string, args: string[], env: Record<string, string>): ManagedProcess {
  return new ManagedProcess({ name, command: process.execPath, args: ["--import", "tsx", script, ...args], cwd: ROOT, env: { EIAAS_LOG_LEVEL: "warn", ...env } }, l.logDir, l.unexpected);
}

const alive = (p: ManagedProcess) => {
  if (!p.running) throw new Hopeless(`${p.name} exited; see its log`);
};

async function startApiServers(l: Launch) {
  const ports = [await freePort(), await freePort()];
  const apis = ports.map((port, i) =>
    tsProcess(l, `api-${i}`, "apps/api-server/src/main.ts", [], {
      DATABASE_URL: l.pg.url(),
      REDIS_URL: l.redis.url,
      EIAAS_PORT: String(port),
      EIAAS_HOST: "127.0.0.1",
      // One directory: both serve the certificate the first one generated.
      EIAAS_DATA_DIR: l.apiDataDir,
      EIAAS_ADMIN_TOKEN: l.adminToken,
      EIAAS_BOOTSTRAP_TOKEN: l.bootstrapToken,
    }),
  );
  const waitReady = (i: number) =>
    until(`api-${i} ready`, 180_000, async () => {
      alive(apis[i]!);
      // The first server writes the CA as it starts: read it each time until it is there.
      const client = new ApiClient(`https://127.0.0.1:${ports[i]}`, await readFile(l.caFile, "utf8"));
      try {
        return (await client.request("GET", "/readyz", { timeoutMs: 2_000 })).status === 200;
      } finally {
        client.close();
      }
    });
  // One after the other: the first generates the certificate and applies nothing the second races.
  for (let i = 0; i < apis.length; i++) {
    apis[i]!.start();
    await waitReady(i);
  }
  return { apis, ports, waitReady };
}

async function startSchedulers(l: Launch): Promise<SchedulerProcess[]> {
  const schedulers: SchedulerProcess[] = [];
  for (let i = 0; i < 2; i++) {
    const metricsPort = await freePort();
    const proc = tsProcess(l, `scheduler-${i}`, "apps/scheduler/src/main.ts", [], {
      DATABASE_URL: l.pg.url(),
      REDIS_URL: l.redis.url,
      EIAAS_METRICS_PORT: String(metricsPort),
      EIAAS_NODE_GRACE_SECONDS: String(l.config.nodeGraceS),
      EIAAS_NODE_EVICTION_SECONDS: String(l.config.nodeEvictionS),
    });
    proc.start();
    schedulers.push({ process: proc, metricsPort });
    await until(`${proc.name} ready`, 180_000, async () => {
      alive(proc);
      return /^ok/.test((await getLocal(metricsPort, "/readyz")).text);
    });
  }
  return schedulers;
}

async function startFleet(l: Launch, url: string) {
  const port = await freePort();
  const fleet = tsProcess(l, "fleet", "scripts/chaos/fleet-main.ts", [], {
    EIAAS_SERVER: url,
    EIAAS_CA_FILE: l.caFile,
    EIAAS_BOOTSTRAP_TOKEN: l.bootstrapToken,
    REDIS_URL: l.redis.url,
    CHAOS_FLEET_NODES: String(l.config.fleetNodes),
    CHAOS_AGENTS: String(l.config.agents),
    CHAOS_FLEET_PORT: String(port),
    CHAOS_STATE_DIR: l.stateDir,
    CHAOS_HEARTBEAT_MS: String(l.config.heartbeatS * 1000),
  });
  const waitReady = () =>
    until("the fleet's nodes registered", 600_000, async () => {
      alive(fleet);
      return JSON.parse((await getLocal(port, "/running")).text).nodes === l.layout.fleet.length;
    });
  fleet.start();
  await waitReady();
  return { fleet, port, waitReady };
}

async function startAgents(l: Launch, url: string): Promise<AgentProcess[]> {
  const agents: AgentProcess[] = [];
  for (const n of l.layout.agents) {
    const metricsPort = await freePort();
    const args = [
      "--node",
      n.name,
      "--runtime",
      "process",
      "--slots",
      "4",
      "--server",
      url,
      "--ca-file",
      l.caFile,
      "--state-dir",
      l.stateDir,
      "--heartbeat-seconds",
      String(l.config.heartbeatS),
      ...agentSpecArgs(n),
    ];
    // Info: what three agents log is little, and says what each did with its tasks.
    const proc = tsProcess(l, n.name, "apps/agent/src/main.ts", args, { EIAAS_BOOTSTRAP_TOKEN: l.bootstrapToken, EIAAS_METRICS_PORT: String(metricsPort), EIAAS_LOG_LEVEL: "info" });
    proc.start();
    agents.push({ process: proc, node: n, metricsPort });
  }
  await Promise.all(
    agents.map((a) =>
      until(`${a.node.name} ready`, 180_000, async () => {
        alive(a.process);
        return (await getLocal(a.metricsPort, "/readyz")).status === 200;
      }),
    ),
  );
  return agents;
}

export async function startDeployment(config: ChaosConfig, log: (line: string) => void): Promise<Deployment> {
  const work = await mkdtemp(join(tmpdir(), "eiaas-chaos-"));
  const logDir = config.logDir ?? join(work, "logs");
  await mkdir(logDir, { recursive: true });
  const unexpected: UnexpectedExit[] = [];
  // A harness that dies leaves nothing running behind.
  process.once("exit", killEveryProcess);

  log(`starting Postgres and Redis (logs in ${logDir})`);
  const pg = await PostgresService.create();
  // Postgres is no ManagedProcess: an interrupted run stops it and removes the run's files.
  const forget = onAbandon(async () => {
    await pg.stop();
    await rm(pg.dataDir, { recursive: true, force: true });
    if (!config.logDir) await rm(work, { recursive: true, force: true });
  });
  try {
    return await startProcesses(config, log, { work, logDir, unexpected, pg }, forget);
  } catch (err) {
    await abandonRun();
    throw err;
  }
}

async function startProcesses(
  config: ChaosConfig,
  log: (line: string) => void,
  { work, logDir, unexpected, pg }: { work: string; logDir: string; unexpected: UnexpectedExit[]; pg: PostgresService },
  forget: () => void,
): Promise<Deployment> {
  const redis = await RedisService.create(logDir, unexpected);
  const apiDataDir = join(work, "api");
  const l: Launch = {
    config,
    layout: layout(config.fleetNodes, config.agents),
    logDir,
    unexpected,
    pg,
    redis,
    apiDataDir,
    stateDir: join(work, "agents"),
    caFile: join(apiDataDir, "pki", "ca.crt"),
    adminToken: randomBytes(24).toString("hex"),
    bootstrapToken: randomBytes(24).toString("hex"),
  };
  log("starting the API servers");
  const api = await startApiServers(l);
  const lb = await startLoadBalancer(api.ports);
  const url = `https://127.0.0.1:${lb.port}`;
  log("starting the schedulers");
  const schedulers = await startSchedulers(l);
  log(`starting the fleet (${l.layout.fleet.length} nodes)`);
  const fleet = await startFleet(l, url);
  log(`starting ${l.layout.agents.length} standalone agents`);
  const agents = await startAgents(l, url);
  const runId = randomBytes(6).toString("hex");

  const readyz = async (s: SchedulerProcess) => (await getLocal(s.metricsPort, "/readyz")).text;
  return {
    config,
    layout: l.layout,
    runId,
    logDir,
    pg,
    redis,
    lb,
    url,
    caPem: await readFile(l.caFile, "utf8"),
    adminToken: l.adminToken,
    apis: api.apis,
    schedulers,
    fleet: fleet.fleet,
    fleetPort: fleet.port,
    agents,
    unexpected,
    processes: () => [...api.apis, ...schedulers.map((s) => s.process), fleet.fleet, ...agents.map((a) => a.process), redis.process],
    leader: async () => {
      const answers = await Promise.all(schedulers.map((s) => (s.process.running ? readyz(s).catch(() => "") : Promise.resolve(""))));
      const i = answers.findIndex((a) => a.includes("(leader)"));
      return i < 0 ? undefined : i;
    },
    waitApiReady: api.waitReady,
    waitFleetReady: fleet.waitReady,
    close: async (keepLogs) => {
      // Agents and the fleet first (they would otherwise log the control plane going away).
      for (const a of agents) await a.process.stop();
      await fleet.fleet.stop();
      // Task processes the agents left behind (a frozen agent's, say) end with the run.
      for (const p of await taskProcesses(runId)) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      for (const s of schedulers) await s.process.stop();
      for (const a of api.apis) await a.stop();
      await lb.close();
      await redis.close();
      await pg.stop().catch(() => undefined);
      forget();
      await rm(pg.dataDir, { recursive: true, force: true });
      await rm(apiDataDir, { recursive: true, force: true });
      await rm(l.stateDir, { recursive: true, force: true });
      // The logs are elsewhere when CHAOS_LOG_DIR is set: the run's directory has nothing else to keep.
      if (config.logDir || !keepLogs) await rm(work, { recursive: true, force: true });
    },
  };
}
