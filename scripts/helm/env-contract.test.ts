// Every environment variable the chart gives an eiaas process is one the processes are documented
// to read or read today: a renamed variable cannot leave the chart configuring nothing.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { IMAGE_REPOSITORY, renderChart, ROOT } from "../testkit/helm.js";
import { DOCUMENTED_ENV, envNamesReadByCode } from "../testkit/env-contract.js";
import { eiaasContainers, get, type Container, type Workload } from "../testkit/manifests.js";
import { VALUE_SETS } from "../testkit/value-sets.js";

// Each test runs helm (a process) a few times: slow on a busy machine, never a hang.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

/** Variables a container defines only to expand them as $(NAME) in its other variables or arguments. */
const expansionOnly = (c: Container) => new Set([...(c.env ?? []).map((e) => e.value ?? ""), ...(c.args ?? [])].flatMap((s) => [...s.matchAll(/\$\(([A-Z_][A-Z0-9_]*)\)/g)].map((m) => m[1]!)));

describe("helm/eiaas: environment contract", () => {
  it("the code scan finds what the API server's config declares (guards the scan itself)", () => {
    const read = envNamesReadByCode();
    for (const n of ["DATABASE_URL", "EIAAS_PORT", "EIAAS_ADMIN_TOKEN", "EIAAS_TLS_CERT", "EIAAS_METRICS_AUTH"]) expect(read, n).toContain(n);
  });

  it("every variable set on an eiaas container is documented, read by the apps, or expanded into one that is", () => {
    const allowed = new Set([...DOCUMENTED_ENV, ...envNamesReadByCode()]);
    const seen = new Set<string>();
    for (const set of VALUE_SETS.filter((s) => !s.opts?.apiVersions)) {
      for (const { w, c } of eiaasContainers(renderChart(set.values, set.opts), IMAGE_REPOSITORY)) {
        const expanded = expansionOnly(c);
        for (const e of c.env ?? []) {
          seen.add(e.name);
          if (expanded.has(e.name)) continue;
          expect(allowed, `${set.name}: ${w.metadata.name}/${c.name} sets ${e.name}`).toContain(e.name);
        }
      }
    }
    for (const n of ["DATABASE_URL", "REDIS_URL", "EIAAS_ADMIN_TOKEN", "EIAAS_BOOTSTRAP_TOKEN", "EIAAS_K8S_NAMESPACE", "EIAAS_METRICS_PORT", "OTEL_EXPORTER_OTLP_ENDPOINT"])
      expect(seen, n).toContain(n);
  });

  it("the API server container gets only variables its config reads (telemetry reads the OTLP endpoint)", () => {
    const config = readFileSync(join(ROOT, "apps/api-server/src/config.ts"), "utf8");
    const c = get<Workload>(renderChart({ otel: { endpoint: "http://otel:4318" } }), "Deployment", "eiaas-api-server").spec.template.spec.containers[0]!;
    const expanded = expansionOnly(c);
    for (const e of c.env ?? []) {
      if (e.name === "OTEL_EXPORTER_OTLP_ENDPOINT" || expanded.has(e.name)) continue;
      expect(config, `apps/api-server/src/config.ts reads ${e.name}`).toMatch(new RegExp(`\\b${e.name}\\b`));
    }
  });
});
