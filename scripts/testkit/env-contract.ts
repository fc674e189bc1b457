// The environment variables eiaas processes are documented to read (design.md §6/§7 and the agent's
// contract), and those the code reads today: what the chart and the compose file may set.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./helm.js";

/** EIAAS_BOOTSTRAP_TOKEN is also the API server's pre-shared bootstrap token. */
export const DOCUMENTED_ENV = [
  "DATABASE_URL",
  "REDIS_URL",
  "EIAAS_PORT",
  "EIAAS_ADMIN_TOKEN",
  "EIAAS_DATA_DIR",
  "EIAAS_TLS_CERT",
  "EIAAS_TLS_KEY",
  "EIAAS_METRICS_PORT",
  "EIAAS_METRICS_AUTH",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "EIAAS_LOG_LEVEL",
  "EIAAS_NODE_GRACE_SECONDS",
  "EIAAS_NODE_EVICTION_SECONDS",
  "EIAAS_K8S_NAMESPACE",
  "EIAAS_BOOTSTRAP_TOKEN",
  "EIAAS_SERVER",
  "EIAAS_CA_FILE",
];

/** Env names the apps and libs read today (process.env.X, env.X, or keys of a zod env schema). */
export function envNamesReadByCode(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== "node_modules" && e.name !== "generated") walk(p);
      } else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) {
        const src = readFileSync(p, "utf8");
        for (const m of src.matchAll(/\b(?:env|process\.env)(?:\.|\[")([A-Z][A-Z0-9_]+)/g)) names.add(m[1]!);
        for (const m of src.matchAll(/^\s*((?:EIAAS|OTEL)_[A-Z0-9_]+|DATABASE_URL|REDIS_URL):/gm)) names.add(m[1]!);
      }
    }
  };
  for (const top of ["apps", "libs"]) {
    const base = join(ROOT, top);
    if (existsSync(base)) for (const d of readdirSync(base)) walk(join(base, d, "src"));
  }
  return names;
}
