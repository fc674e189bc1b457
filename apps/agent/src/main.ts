// The node agent process: `node --import tsx apps/agent/src/main.ts --node NAME [options]`.
import { readFileSync } from "node:fs";
import http from "node:http";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { edgeNodeSpec, formatPath, type EdgeNodeSpecInput } from "@eiaas/api";
import { createRedisQueueBackend } from "@eiaas/queue";
import { createTaskRuntime, type RuntimeName } from "@eiaas/runtime";
import { createLogger } from "@eiaas/telemetry";
import { NodeAgent } from "./agent.js";

const HELP = `eiaas node agent

usage: agent --node NAME [--runtime simulated|process|docker|kubernetes] [--slots N]
             [--server URL] [--ca-file FILE | --insecure-skip-tls-verify]
             [--spec-file FILE | --tier device|edge|cloud --parent NODE --hardware CLASS
              --cpu M --memory-mib N --gpu N --gflops G --uplink-mbps B --downlink-mbps B --rtt-ms R]
             [--labels k=v,k2=v2]
env: EIAAS_BOOTSTRAP_TOKEN (required), EIAAS_SERVER, EIAAS_CA_FILE, EIAAS_METRICS_PORT, EIAAS_LOG_LEVEL`;

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
const token = process.env.EIAAS_BOOTSTRAP_TOKEN ?? fail("EIAAS_BOOTSTRAP_TOKEN is not set");
const server = values.server ?? process.env.EIAAS_SERVER ?? fail("--server (or EIAAS_SERVER) is required");
const caFile = values["ca-file"] ?? process.env.EIAAS_CA_FILE;
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

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
const runtimeName = values.runtime as RuntimeName;
if (!["simulated", "process", "docker", "kubernetes"].includes(runtimeName)) fail(`--runtime: unknown runtime "${runtimeName}"`);
const agent = new NodeAgent({
  nodeName,
  spec: spec.data as EdgeNodeSpecInput,
  labels,
  connection: { server, token, ...(caFile ? { caPem: readFileSync(caFile, "utf8") } : {}), insecureSkipTlsVerify: values["insecure-skip-tls-verify"] },
  runtime: createTaskRuntime(runtimeName, { kubernetes: { ...(process.env.EIAAS_K8S_NAMESPACE ? { namespace: process.env.EIAAS_K8S_NAMESPACE } : {}) } }),
  slots: Number(values.slots),
  openQueue: (c) => {
    const u = new URL(c.url);
    if (c.username) u.username = encodeURIComponent(c.username);
    if (c.password) u.password = encodeURIComponent(c.password);
    return createRedisQueueBackend({ url: u.toString(), restricted: true, onError: (err) => logger.debug({ err: err.message }, "queue") });
  },
  logger,
});
try {
  await agent.start();
  logger.info({ node: nodeName, runtime: runtimeName }, "agent registered and consuming its queue");
} catch (err) {
  fail(`agent could not start: ${(err as Error).message}`);
}
const port = Number(process.env.EIAAS_METRICS_PORT ?? 0);
const health = http.createServer((req, res) => {
  if (req.url === "/livez" || req.url === "/readyz") return void res.end("ok");
  res.statusCode = 404;
  res.end();
});
if (port) health.listen(port);
const stop = async (signal: string) => {
  logger.info({ signal }, "shutting down: handing running jobs back to the queue");
  health.close();
  await agent.stop();
  process.exit(0);
};
process.once("SIGTERM", () => void stop("SIGTERM"));
process.once("SIGINT", () => void stop("SIGINT"));
