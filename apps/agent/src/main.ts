// The node agent process: `node --import tsx apps/agent/src/main.ts --node NAME [options]`.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { edgeNodeSpec, formatPath, type EdgeNodeSpecInput } from "@eiaas/api";
import { EiaasClient, type ConnectionOptions } from "@eiaas/client";
import { createRedisQueueBackend, nodeQueueName, type QueueBackend } from "@eiaas/queue";
import { checkpointDirOf, createTaskRuntime, type RuntimeName } from "@eiaas/runtime";
import { createLogger, startOpsServer, startTelemetry } from "@eiaas/telemetry";
import { NodeAgent } from "./agent.js";
import { FileCredentialStore } from "./credentials.js";

const HELP = `eiaas node agent

usage: agent --node NAME [--runtime simulated|process|docker|kubernetes|training] [--slots N]
             [--server URL] [--ca-file FILE | --insecure-skip-tls-verify]
             [--spec-file FILE | --tier device|edge|cloud --parent NODE --hardware CLASS
              --cpu M --memory-mib N --gpu N --gflops G --uplink-mbps B --downlink-mbps B --rtt-ms R]
             [--labels k=v,k2=v2] [--state-dir DIR] [--heartbeat-seconds N]
--runtime training runs federated training tasks for real in the agent (aggregators listen on
--advertise-host, default 127.0.0.1, and checkpoint under --state-dir/training); other tasks are simulated.
The node's credential (its agent token, mode 0600) is kept in --state-dir (default
$EIAAS_DATA_DIR/agents, else .eiaas/agents) and used at every later start; the bootstrap token
only registers a node that does not exist yet, once. --heartbeat-seconds (default 10) must stay well
under the control plane's node grace period (40 s by default).
env: EIAAS_BOOTSTRAP_TOKEN (needed until the node has a credential), EIAAS_SERVER, EIAAS_CA_FILE,
     EIAAS_DATA_DIR, EIAAS_METRICS_PORT, EIAAS_LOG_LEVEL`;

function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(1);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        node: { type: "string" },
        runtime: { type: "string", default: "simulated" },
        slots: { type: "string", default: "4" },
        server: { type: "string" },
        "ca-file": { type: "string" },
        "insecure-skip-tls-verify": { type: "boolean", default: false },
        "spec-file": { type: "string" },
        tier: { type: "string", default: "device" },
        parent: { type: "string" },
        hardware: { type: "string" },
        cpu: { type: "string" },
        "memory-mib": { type: "string" },
        gpu: { type: "string" },
        gflops: { type: "string" },
        "uplink-mbps": { type: "string" },
        "downlink-mbps": { type: "string" },
        "rtt-ms": { type: "string" },
        labels: { type: "string", default: "" },
        "state-dir": { type: "string" },
        "advertise-host": { type: "string", default: "127.0.0.1" },
        "heartbeat-seconds": { type: "string", default: "10" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message} (see --help)`);
  }
})();
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const nodeName = values.node ?? fail("--node is required");
const token = process.env.EIAAS_BOOTSTRAP_TOKEN || undefined;
const stateDir = resolve(values["state-dir"] ?? join(process.env.EIAAS_DATA_DIR ?? ".eiaas", "agents"));
const server = values.server ?? process.env.EIAAS_SERVER ?? fail("--server (or EIAAS_SERVER) is required");
const caFile = values["ca-file"] ?? process.env.EIAAS_CA_FILE;
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const heartbeatSeconds = Number(values["heartbeat-seconds"]);
if (!(heartbeatSeconds >= 0.1 && heartbeatSeconds <= 3600)) fail(`--heartbeat-seconds: "${values["heartbeat-seconds"]}" is not a number of seconds between 0.1 and 3600`);

let rawSpec: unknown;
if (values["spec-file"]) {
  const doc = parseYaml(readFileSync(values["spec-file"], "utf8"));
  rawSpec = doc?.spec ?? doc;
} else {
  rawSpec = {
    tier: values.tier,
    ...(values.parent ? { parent: values.parent } : {}),
    ...(values.hardware ? { hardware: values.hardware } : {}),
    capacity: { cpu: num(values.cpu) ?? 0, memoryMiB: num(values["memory-mib"]) ?? 0, gpu: num(values.gpu) ?? 0 },
    compute: { gflops: num(values.gflops) ?? 0 },
    network: { uplinkMbps: num(values["uplink-mbps"]) ?? 0, downlinkMbps: num(values["downlink-mbps"]) ?? 0, rttMs: num(values["rtt-ms"]) ?? 0 },
  };
}
const spec = edgeNodeSpec.safeParse(rawSpec);
if (!spec.success) fail(spec.error.issues.map((i) => `spec.${formatPath(i.path)}: ${i.message}`).join("; "));
const labels = Object.fromEntries(
  values.labels
    .split(",")
    .filter(Boolean)
    .map((kv) => {
      const i = kv.indexOf("=");
      if (i <= 0) fail(`--labels: "${kv}" is not key=value`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
);

const logger = createLogger({ name: "agent", level: process.env.EIAAS_LOG_LEVEL ?? "info" });
// Traces (only with OTEL_EXPORTER_OTLP_ENDPOINT set): task runs continue the scheduler's dispatch trace.
const telemetry = await startTelemetry({ serviceName: "eiaas-agent" });
const connection: ConnectionOptions = { server, ...(token ? { token } : {}), ...(caFile ? { caPem: readFileSync(caFile, "utf8") } : {}), insecureSkipTlsVerify: values["insecure-skip-tls-verify"] };
let queue: QueueBackend | undefined;
let started = false;
const runtimeName = values.runtime as RuntimeName;
if (!["simulated", "process", "docker", "kubernetes", "training"].includes(runtimeName)) fail(`--runtime: unknown runtime "${runtimeName}"`);
const nodeSpec = spec.data;
const agent = new NodeAgent({
  nodeName,
  spec: spec.data as EdgeNodeSpecInput,
  labels,
  connection,
  credentials: new FileCredentialStore(stateDir),
  runtime: createTaskRuntime(runtimeName, {
    kubernetes: { ...(process.env.EIAAS_K8S_NAMESPACE ? { namespace: process.env.EIAAS_K8S_NAMESPACE } : {}) },
    training: {
      checkpointDir: checkpointDirOf(stateDir),
      bindHost: values["advertise-host"],
      power: { computeW: nodeSpec.power.computeW, transmitW: nodeSpec.power.transmitW, uplinkMbps: nodeSpec.network.uplinkMbps },
    },
  }),
  slots: Number(values.slots),
  heartbeatMs: heartbeatSeconds * 1000,
  // Called again with fresh credentials when the queue keeps refusing the ones it has.
  openQueue: (c, hooks) => {
    const u = new URL(c.url);
    if (c.username) u.username = encodeURIComponent(c.username);
    if (c.password) u.password = encodeURIComponent(c.password);
    queue = createRedisQueueBackend({
      url: u.toString(),
      restricted: true,
      onError: (err) => {
        hooks.onError(err);
        logger.debug({ err: err.message }, "queue");
      },
    });
    return queue;
  },
  logger,
});
try {
  await agent.start();
  started = true;
  logger.info({ node: nodeName, runtime: runtimeName }, "agent registered and consuming its queue");
} catch (err) {
  fail(`agent could not start: ${(err as Error).message}`);
}
// Ready = registered and consuming, the API answers (and through it the database), its queue's
// Redis answers. The API is asked without a token: /readyz is public.
const probe = new EiaasClient({ ...connection, token: undefined, timeoutMs: 2_000 });
const ops =
  process.env.EIAAS_METRICS_PORT !== undefined
    ? await startOpsServer({
        port: Number(process.env.EIAAS_METRICS_PORT),
        checks: {
          agent: async () => {
            if (!started) throw new Error("not registered yet");
          },
          api: () => probe.request({ method: "GET", path: "/readyz", accept: "text/plain" }),
          queue: async () => {
            if (!queue) throw new Error("not connected yet");
            await queue.depth(nodeQueueName(nodeName));
          },
        },
      })
    : undefined;
if (ops) logger.info({ port: ops.port }, "serving /livez, /readyz and /metrics");

/** Graceful stop: not ready, take no more jobs, hand running ones back to the queue, flush traces. */
const stop = async (signal: string) => {
  logger.info({ signal }, "shutting down: handing running jobs back to the queue");
  ops?.drain();
  await agent.stop();
  probe.close();
  await ops?.close();
  await telemetry.shutdown();
  process.exit(0);
};
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    process.once(signal, () => process.exit(1));
    void stop(signal);
  });
}
