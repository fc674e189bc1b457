// The node agent process: `node --import tsx apps/agent/src/main.ts --node NAME [options]`.
import { join } from "node:path";
import { EiaasClient, type ConnectionOptions } from "@eiaas/client";
import { createRedisQueueBackend, nodeQueueName, type QueueBackend } from "@eiaas/queue";
import { checkpointDirOf, createTaskRuntime, type OnnxRuntimeOptions } from "@eiaas/runtime";
import { createLogger, startOpsServer, startTelemetry } from "@eiaas/telemetry";
import { NodeAgent } from "./agent.js";
import { EXIT_BAD_CONFIG, parseAgentConfig, type AgentConfig } from "./config.js";
import { FileCredentialStore } from "./credentials.js";
import { detectHost } from "./host/detect.js";
import { detectionNeeds, nodeLabels, nodeSpec, operatorSpec, readSpecFile } from "./node-spec.js";
import { EXIT_REGISTRATION_REFUSED, RegistrationRefused } from "./registration.js";
import { ModelArtifacts } from "./artifacts.js";
import { segmentsFromDirectory } from "./segments.js";

const HELP = `eiaas node agent

usage: agent --node NAME [--runtime simulated|process|docker|kubernetes|onnx|training] [--slots N]
             [--server URL] [--ca-file FILE | --insecure-skip-tls-verify]
             [--spec-file FILE] [--tier device|edge|cloud] [--parent NODE] [--hardware CLASS]
             [--cpu M] [--memory-mib N] [--gpu N] [--gflops G] [--uplink-mbps B] [--downlink-mbps B] [--rtt-ms R]
             [--labels k=v,k2=v2] [--state-dir DIR] [--heartbeat-seconds N]
             [--segment-dir DIR] [--serve-host ADDR] [--advertise-host HOST]
The node's EdgeNode spec: the --spec-file (YAML or JSON, a spec or a manifest with one), each flag
over it; what neither sets of CPU (millicores), memory, GPUs and gflops is detected: the CPUs and
memory of the host, bounded by the agent's cgroup (cpu.max, memory.max) for the process and
simulated runtimes; GPUs listed by nvidia-smi; gflops from a ~0.4 s onnxruntime convolution benchmark.
Tier defaults to device. Labels kubernetes.io/arch, kubernetes.io/os (and nvidia.com/gpu.product)
are added unless --labels sets them.
--runtime training runs federated training tasks for real in the agent (aggregators listen on
--advertise-host, default 127.0.0.1, and checkpoint under --state-dir/training); other tasks are simulated.
The node's credential (its agent token, mode 0600) is kept in --state-dir (default
$EIAAS_DATA_DIR/agents, else .eiaas/agents) and used at every later start; the bootstrap token
only registers a node that does not exist yet, once. --heartbeat-seconds (default 10) must stay well
under the control plane's node grace period (40 s by default).
--runtime onnx serves inference tasks (serve, head, tail) in this process with onnxruntime: each
task's segment is cut from its Model's artifact (the ONNX file uploaded to the API, fetched with the
node's token, sha256-verified, kept under --state-dir/artifacts), or with --segment-dir DIR the file
of DIR its EIAAS_SEGMENT_FILE names (EIAAS_EXIT_HEAD_FILE for an exit head); its server listens on
--serve-host (default 127.0.0.1) at its EIAAS_PORT or a free port, reported as
--advertise-host:PORT (default: the serve host, 127.0.0.1 for a wildcard). A split plan's head
forwards to its tail's current endpoint, looked up through the API.
--runtime docker serves them as eiaas-serve containers: the segment mounted read-only from
--state-dir/docker-segments, the port published on --serve-host, advertised as --advertise-host.
env: EIAAS_BOOTSTRAP_TOKEN (needed until the node has a credential), EIAAS_SERVER, EIAAS_CA_FILE,
     EIAAS_DATA_DIR, EIAAS_METRICS_PORT, EIAAS_LOG_LEVEL
Registration is retried (jittered backoff up to 30 s, each failure logged at warn) while the API is
unreachable or answers 5xx, 429 or 409 Conflict. exit codes: 0 stopped by SIGTERM/SIGINT, 1 a start
failure, ${EXIT_BAD_CONFIG} bad flags, environment or spec, or the API refused the registration for good (a token,
spec or CA to fix: 401, 403, 409 AlreadyExists, 422).`;

function fail(message: string, code = 1): never {
  console.error(`error: ${message}`);
  process.exit(code);
}

let config: AgentConfig;
try {
  const parsed = parseAgentConfig(process.argv.slice(2), process.env);
  if (parsed === "help") {
    console.log(HELP);
    process.exit(0);
  }
  config = parsed;
} catch (err) {
  fail(`${(err as Error).message} (see --help)`, EXIT_BAD_CONFIG);
}
const { nodeName, stateDir, heartbeatSeconds, runtime: runtimeName } = config;

let operator: ReturnType<typeof operatorSpec>;
try {
  operator = operatorSpec(config.specFile ? readSpecFile(config.specFile) : undefined, config.specFlags);
} catch (err) {
  fail((err as Error).message, EXIT_BAD_CONFIG);
}

const logger = createLogger({ name: "agent", level: config.logLevel });
// What the operator left unset is detected: tasks of the process and simulated runtimes run inside
// this process's cgroup, the others' beside it (containers, Pods) on the host's resources.
const detected = await detectHost(detectionNeeds(operator), { withinCgroup: runtimeName === "process" || runtimeName === "simulated" || runtimeName === "onnx" || runtimeName === "training" });
for (const problem of detected.problems) logger.warn({ problem }, "host detection");
let spec: ReturnType<typeof nodeSpec>;
try {
  spec = nodeSpec(operator, detected);
} catch (err) {
  fail((err as Error).message, EXIT_BAD_CONFIG);
}
if (Object.keys(detected.sources).length) {
  logger.info({ node: nodeName, capacity: spec.capacity, gflops: spec.compute?.gflops, detected: detected.sources }, "detected what the spec left unset");
}
// Traces (only with OTEL_EXPORTER_OTLP_ENDPOINT set): task runs continue the scheduler's dispatch trace.
const telemetry = await startTelemetry({ serviceName: "eiaas-agent" });
const connection: ConnectionOptions = {
  server: config.server,
  ...(config.bootstrapToken ? { token: config.bootstrapToken } : {}),
  ...(config.caPem !== undefined ? { caPem: config.caPem } : {}),
  insecureSkipTlsVerify: config.insecureSkipTlsVerify,
};
let queue: QueueBackend | undefined;
let started = false;
// Segments come from the tasks' Model artifacts, fetched with the node's own token (set once the
// agent has registered, before any job is taken), unless the operator provisioned a directory.
let agentRef: NodeAgent | undefined;
const artifacts = new ModelArtifacts({
  client: () => {
    if (!agentRef) throw new Error("the agent is not set up yet");
    return agentRef.apiClient;
  },
  dir: join(stateDir, "artifacts"),
});
const onnx: OnnxRuntimeOptions = {
  loadSegment: config.segmentDir ? segmentsFromDirectory(config.segmentDir) : (task) => artifacts.loadSegment(task),
  ...(config.serveHost ? { listenHost: config.serveHost } : {}),
  ...(config.advertiseHost ? { advertiseHost: config.advertiseHost } : {}),
};
const agent = new NodeAgent({
  nodeName,
  spec,
  labels: nodeLabels(config.labels, detected.labels),
  connection,
  credentials: new FileCredentialStore(stateDir),
  runtime: createTaskRuntime(runtimeName, {
    onnx,
    // Inference tasks in containers get the same segments, written under the state dir and mounted.
    docker: {
      ...(onnx.loadSegment ? { loadSegment: onnx.loadSegment } : {}),
      segmentDir: join(stateDir, "docker-segments"),
      ...(config.serveHost ? { publishHost: config.serveHost } : {}),
      ...(config.advertiseHost ? { advertiseHost: config.advertiseHost } : {}),
    },
    kubernetes: { ...(config.k8sNamespace ? { namespace: config.k8sNamespace } : {}) },
    training: {
      checkpointDir: checkpointDirOf(stateDir),
      ...(config.advertiseHost ? { bindHost: config.advertiseHost } : {}),
      // The EdgeNode schema's own defaults (0) for what the spec leaves unset.
      power: { computeW: spec.power?.computeW ?? 0, transmitW: spec.power?.transmitW ?? 0, uplinkMbps: spec.network?.uplinkMbps ?? 0 },
    },
  }),
  slots: config.slots,
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
        logger.debug({ err }, "queue");
      },
    });
    return queue;
  },
  logger,
});
agentRef = agent;
// Ready = registered and consuming, the API answers (and through it the database), its queue's
// Redis answers. The API is asked without a token: /readyz is public. Served from the start: while
// registration is retried (the API not up yet) the agent is alive but not ready, so a liveness
// probe does not restart it.
const probe = new EiaasClient({ ...connection, token: undefined, timeoutMs: 2_000 });
const ops =
  config.metricsPort !== undefined
    ? await startOpsServer({
        port: config.metricsPort,
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

let stopping = false;
/** Graceful stop: not ready, take no more jobs, hand running ones back to the queue, flush traces. */
const stop = async (signal: string) => {
  stopping = true;
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

try {
  await agent.start();
  if (!stopping) {
    started = true;
    logger.info({ node: nodeName, runtime: runtimeName }, "agent registered and consuming its queue");
  }
} catch (err) {
  // Stopped while registering: stop() exits.
  if (!stopping) {
    if (err instanceof RegistrationRefused) fail(err.message, EXIT_REGISTRATION_REFUSED);
    fail(`agent could not start: ${(err as Error).message}`);
  }
}
