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
import { killEveryProcess, ManagedProcess, type UnexpectedExit } from "./processes.js";
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
  apiPorts: number[];
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
  waitApiReady(i: number, timeoutMs?: number): Promise<void>;
  /** Waits until the fleet process has registered all its nodes. */
  waitFleetReady(timeoutMs?: number): Promise<void>;
  /** Stops everything; removes the data unless `keepLogs`. */
  close(keepLogs: boolean): Promise<void>;
}

const node = process.execPath;
const tsx = ["--import", "tsx"];

/** GET of a plain-HTTP ops endpoint (/readyz of a scheduler, /running of the fleet). */
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

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startDeployment(config: ChaosConfig, log: (line: string) => void): Promise<Deployment> {
  const work = await mkdtemp(join(tmpdir(), "eiaas-chaos-"));
  const logDir = config.logDir ?? join(work, "logs");
  await mkdir(logDir, { recursive: true });
  const unexpected: UnexpectedExit[] = [];
  // A harness that dies leaves nothing running behind.
  process.once("exit", killEveryProcess);

  const lay = layout(config.fleetNodes, config.agents);
  const runId = randomBytes(6).toString("hex");
  const adminToken = randomBytes(24).toString("hex");
  const bootstrapToken = randomBytes(24).toString("hex");
  const apiDataDir = join(work, "api");

  log(`starting Postgres and Redis (logs in ${logDir})`);
  const pg = await PostgresService.create();
  const redis = await RedisService.create(logDir, unexpected);

  const apiPorts = [await freePort(), await freePort()];
  const apis = apiPorts.map(
    (port, i) =>
      new ManagedProcess(
        {
          name: `api-${i}`,
          command: node,
          args: [...tsx, "apps/api-server/src/main.ts"],
          cwd: ROOT,
          env: {
            DATABASE_URL: pg.url(),
            REDIS_URL: redis.url,
            EIAAS_PORT: String(port),
            EIAAS_HOST: "127.0.0.1",
            // One directory: both serve the certificate the first one generated.
            EIAAS_DATA_DIR: apiDataDir,
            EIAAS_ADMIN_TOKEN: adminToken,
            EIAAS_BOOTSTRAP_TOKEN: bootstrapToken,
            EIAAS_LOG_LEVEL: "warn",
          },
        },
        logDir,
        unexpected,
      ),
  );
  const waitApiReady = async (i: number, timeoutMs = 60_000) => {
    const ca = await readFile(join(apiDataDir, "pki", "ca.crt"), "utf8").catch(() => undefined);
    const client = new ApiClient(`https://127.0.0.1:${apiPorts[i]}`, ca ?? "");
    try {
      await until(`api-${i} ready`, timeoutMs, async () => {
        if (!apis[i]!.running) throw new Error(`api-${i} exited; see ${logDir}/api-${i}.log`);
        const c = ca ? client : new ApiClient(`https://127.0.0.1:${apiPorts[i]}`, await readFile(join(apiDataDir, "pki", "ca.crt"), "utf8"));
        try {
          return (await c.request("GET", "/readyz", { timeoutMs: 2_000 })).status === 200;
        } finally {
          if (c !== client) c.close();
        }
      });
    } finally {
      client.close();
    }
  };
  log("starting the API servers");
  for (let i = 0; i < apis.length; i++) {
    apis[i]!.start();
    await waitApiReady(i);
  }
  const caPem = await readFile(join(apiDataDir, "pki", "ca.crt"), "utf8");
  const caFile = join(apiDataDir, "pki", "ca.crt");
  const lb = await startLoadBalancer(apiPorts);
  const url = `https://127.0.0.1:${lb.port}`;

  log("starting the schedulers");
  const schedulers: SchedulerProcess[] = [];
  for (let i = 0; i < 2; i++) {
    const metricsPort = await freePort();
    const proc = new ManagedProcess(
      {
        name: `scheduler-${i}`,
        command: node,
        args: [...tsx, "apps/scheduler/src/main.ts"],
        cwd: ROOT,
        env: {
          DATABASE_URL: pg.url(),
          REDIS_URL: redis.url,
          EIAAS_METRICS_PORT: String(metricsPort),
          EIAAS_NODE_GRACE_SECONDS: String(config.nodeGraceS),
          EIAAS_NODE_EVICTION_SECONDS: String(config.nodeEvictionS),
          EIAAS_LOG_LEVEL: "warn",
        },
      },
      logDir,
      unexpected,
    );
    schedulers.push({ process: proc, metricsPort });
  }
  const readyz = async (s: SchedulerProcess) => (await getLocal(s.metricsPort, "/readyz")).text;
  for (const s of schedulers) {
    s.process.start();
    await until(`${s.process.name} ready`, 60_000, async () => /^ok/.test(await readyz(s)));
  }

  log(`starting the fleet (${lay.fleet.length} nodes)`);
  const fleetPort = await freePort();
  const fleet = new ManagedProcess(
    {
      name: "fleet",
      command: node,
      args: [...tsx, "scripts/chaos/fleet-main.ts"],
      cwd: ROOT,
      env: {
        EIAAS_SERVER: url,
        EIAAS_CA_FILE: caFile,
        EIAAS_BOOTSTRAP_TOKEN: bootstrapToken,
        REDIS_URL: redis.url,
        CHAOS_FLEET_NODES: String(config.fleetNodes),
        CHAOS_AGENTS: String(config.agents),
        CHAOS_FLEET_PORT: String(fleetPort),
        EIAAS_LOG_LEVEL: "warn",
      },
    },
    logDir,
    unexpected,
  );
  const waitFleetReady = (timeoutMs = 180_000) =>
    until("the fleet's nodes registered", timeoutMs, async () => {
      if (!fleet.running) throw new Error(`the fleet exited; see ${logDir}/fleet.log`);
      return JSON.parse((await getLocal(fleetPort, "/running")).text).nodes === lay.fleet.length;
    });
  fleet.start();
  await waitFleetReady();

  log(`starting ${lay.agents.length} standalone agents`);
  const agents: AgentProcess[] = [];
  const started: Array<Promise<void>> = [];
  for (const n of lay.agents) {
    const metricsPort = await freePort();
    const proc = new ManagedProcess(
      {
        name: n.name,
        command: node,
        args: [...tsx, "apps/agent/src/main.ts", "--node", n.name, "--runtime", "process", "--slots", "4", "--server", url, "--ca-file", caFile, ...agentSpecArgs(n)],
        cwd: ROOT,
        // Info: what three agents log is little, and says what each did with its tasks.
        env: { EIAAS_BOOTSTRAP_TOKEN: bootstrapToken, EIAAS_METRICS_PORT: String(metricsPort), EIAAS_LOG_LEVEL: "info" },
      },
      logDir,
      unexpected,
    );
    proc.start();
    agents.push({ process: proc, node: n });
    started.push(
      until(`${n.name} ready`, 90_000, async () => {
        if (!proc.running) throw new Error(`${n.name} exited; see ${logDir}/${n.name}.log`);
        return (await getLocal(metricsPort, "/readyz")).status === 200;
      }),
    );
  }
  await Promise.all(started);

  const processes = () => [...apis, ...schedulers.map((s) => s.process), fleet, ...agents.map((a) => a.process), redis.process];
  return {
    config,
    layout: lay,
    runId,
    logDir,
    pg,
    redis,
    lb,
    url,
    caPem,
    adminToken,
    apis,
    apiPorts,
    schedulers,
    fleet,
    fleetPort,
    agents,
    unexpected,
    processes,
    leader: async () => {
      const answers = await Promise.all(schedulers.map((s) => (s.process.running ? readyz(s).catch(() => "") : Promise.resolve(""))));
      const i = answers.findIndex((a) => a.includes("(leader)"));
      return i < 0 ? undefined : i;
    },
    waitApiReady,
    waitFleetReady,
    close: async (keepLogs) => {
      // Agents and the fleet first (they would otherwise log the control plane going away).
      for (const a of agents) await a.process.stop();
      await fleet.stop();
      // Task processes the agents left behind (a frozen agent's, say) end with the run.
      for (const p of await taskProcesses(runId)) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      for (const s of schedulers) await s.process.stop();
      for (const a of apis) await a.stop();
      await lb.close();
      await redis.process.stop();
      await pg.stop().catch(() => undefined);
      await rm(pg.dataDir, { recursive: true, force: true });
      await rm(apiDataDir, { recursive: true, force: true });
      if (!keepLogs && !config.logDir) await rm(work, { recursive: true, force: true });
    },
  };
}
