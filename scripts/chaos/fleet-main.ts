// The simulated fleet as a process of its own (what the operator ran: "a 200-node fleet"):
// `node --import tsx scripts/chaos/fleet-main.ts`. Its nodes are real NodeAgents (apps/agent), set
// up as SimulatedFleet (apps/agent/src/fleet.ts) sets them up — one shared queue transport,
// 8 slots, a 5 s restart grace — but each with a runtime of its own that records what it runs, so
// the harness can ask the fleet which task attempts run on which node (GET /running): the ground
// truth a ghost run is measured against. SimulatedFleet shares one runtime whose keys do not say
// the node.
//
// env: EIAAS_SERVER, EIAAS_CA_FILE, EIAAS_BOOTSTRAP_TOKEN, REDIS_URL, CHAOS_FLEET_NODES,
//      CHAOS_AGENTS (for the layout), CHAOS_FLEET_PORT (the /running endpoint), CHAOS_STATE_DIR
//      (the nodes' credentials, as the demo's fleet keeps them: a restarted fleet takes its nodes
//      back with them, the bootstrap token registering new nodes only), CHAOS_HEARTBEAT_MS,
//      EIAAS_LOG_LEVEL
import { readFileSync } from "node:fs";
import http from "node:http";
import { FileCredentialStore, NodeAgent } from "@eiaas/agent";
import { createRedisQueueBackend } from "@eiaas/queue";
import { SimulatedRuntime, type TaskHooks, type TaskResult, type TaskRunSpec, type TaskRuntime } from "@eiaas/runtime";
import { createLogger } from "@eiaas/telemetry";
import { layout } from "./layout.js";

/** One attempt a node's runtime is running, as GET /running lists it. */
export interface FleetRun {
  node: string;
  namespace: string;
  name: string;
  uid: string;
  attempt: number;
  /** When the runtime started it (epoch ms). */
  since: number;
}

/** A runtime that delegates to a SimulatedRuntime and keeps the attempts it is running. */
class RecordingRuntime implements TaskRuntime {
  readonly name = "simulated" as const;
  readonly runs = new Map<string, FleetRun>();
  private readonly inner = new SimulatedRuntime();

  async start(task: TaskRunSpec, hooks: TaskHooks): Promise<TaskResult> {
    const key = `${task.namespace}/${task.name}/${task.attempt}`;
    this.runs.set(key, { node: task.nodeName, namespace: task.namespace, name: task.name, uid: task.uid, attempt: task.attempt, since: Date.now() });
    try {
      return await this.inner.start(task, hooks);
    } finally {
      this.runs.delete(key);
    }
  }
  stop(key: string, reason?: string): Promise<boolean> {
    return this.inner.stop(key, reason);
  }
  running(): string[] {
    return this.inner.running();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`error: ${name} is not set`);
    process.exit(1);
  }
  return v;
}

const logger = createLogger({ name: "fleet", level: process.env.EIAAS_LOG_LEVEL ?? "warn" });
const nodes = layout(Number(need("CHAOS_FLEET_NODES")), Number(process.env.CHAOS_AGENTS ?? 0)).fleet;
const connection = { server: need("EIAAS_SERVER"), token: need("EIAAS_BOOTSTRAP_TOKEN"), caPem: readFileSync(need("EIAAS_CA_FILE"), "utf8") };
const queue = createRedisQueueBackend({ url: need("REDIS_URL"), onError: (err) => logger.debug({ err: err.message }, "queue") });
const credentials = new FileCredentialStore(need("CHAOS_STATE_DIR"));
const heartbeatMs = process.env.CHAOS_HEARTBEAT_MS ? Number(process.env.CHAOS_HEARTBEAT_MS) : undefined;
const runtimes = new Map<string, RecordingRuntime>();
const agents: NodeAgent[] = [];

// GET /running answers from the first node on, so the harness sees runs while the fleet starts.
const server = http.createServer((req, res) => {
  if (req.url !== "/running") return void res.writeHead(404).end();
  const runs: FleetRun[] = [];
  for (const r of runtimes.values()) runs.push(...r.runs.values());
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ nodes: agents.length, runs }));
});
server.listen(Number(need("CHAOS_FLEET_PORT")), "127.0.0.1");

let next = 0;
const worker = async () => {
  while (next < nodes.length) {
    const n = nodes[next++]!;
    const runtime = new RecordingRuntime();
    runtimes.set(n.name, runtime);
    // A start refused while the control plane is away is tried again with a fresh agent, as a
    // restarted node would (the failed one is stopped: no timers of it left behind).
    for (let attempt = 0; ; attempt++) {
      const agent = new NodeAgent({
        nodeName: n.name,
        spec: n.spec,
        labels: n.labels,
        connection,
        credentials,
        runtime,
        slots: 8,
        queue,
        logger,
        restartGraceMs: 5_000,
        ...(heartbeatMs ? { heartbeatMs } : {}),
      });
      try {
        await agent.start();
        agents.push(agent);
        break;
      } catch (err) {
        await agent.stop().catch(() => undefined);
        logger.warn({ node: n.name, err: (err as Error).message }, "agent start failed; retrying");
        await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 5_000)));
      }
    }
  }
};
await Promise.all(Array.from({ length: Math.min(20, nodes.length) }, worker));
console.log(`fleet: ${agents.length} nodes registered`);

const stop = async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const r of runtimes.values()) await r.close();
  await queue.close({ force: true });
  server.close();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
