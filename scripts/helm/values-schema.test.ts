// values.schema.json on its own (helm checks every install against it): the defaults plus an image
// validate, values that cannot work do not, and Chart.yaml is what Helm expects.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { describe, expect, it, vi } from "vitest";
import { parse as parseYaml } from "yaml";
import { CHART, IMAGE_REPOSITORY } from "../testkit/helm.js";
import { VALUE_SETS } from "../testkit/value-sets.js";

// Each test runs helm (a process) a few times: slow on a busy machine, never a hang.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

type Dict = Record<string, unknown>;
const isMap = (v: unknown): v is Dict => typeof v === "object" && v !== null && !Array.isArray(v);
/** Helm's value merge: maps merge, everything else replaces. */
function deepMerge(base: Dict, over: Dict): Dict {
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isMap(v) && isMap(out[k]) ? deepMerge(out[k] as Dict, v) : v;
  return out;
}
const defaults = () => parseYaml(readFileSync(join(CHART, "values.yaml"), "utf8")) as Dict;
const withImage = (v: Dict) => deepMerge(v, { image: { repository: IMAGE_REPOSITORY } });

describe("helm/eiaas: values.schema.json", () => {
  const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")) as Dict;
  const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

  it("is JSON Schema draft-07; values.yaml with an image repository validates, without one it does not", () => {
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    const ok = validate(withImage(defaults()));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // No default image: "eiaas" alone would be pulled from Docker Hub's library namespace.
    expect(validate(defaults())).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath)).toContain("/image/repository");
  });

  it("rejects values that cannot work", () => {
    const bad: [string, Dict][] = [
      ["unknown top-level key", { sheduler: {} }],
      ["unknown nested key", { scheduler: { replica: 3 } }],
      ["zero scheduler replicas", { scheduler: { replicas: 0 } }],
      ["bad log level", { logLevel: "loud" }],
      ["short admin token", { adminToken: { value: "short" } }],
      ["admin token under 32 characters (the API server refuses it)", { adminToken: { value: "a".repeat(31) } }],
      ["non-postgres external URL", { externalDatabase: { url: "mysql://x" } }],
      ["port out of range", { apiServer: { port: 70000 } }],
      ["bad image pull policy", { image: { pullPolicy: "Sometimes" } }],
      ["image repository with a space", { image: { repository: "my registry/eiaas" } }],
      ["workload namespace with capitals", { agent: { workloadNamespace: { name: "Edge", create: true } } }],
      ["no node pool", { agent: { nodePools: [] } }],
      ["relative agent state path", { agent: { stateHostPath: "relative/dir" } }],
      ["agent state path with a trailing slash", { agent: { stateHostPath: "/var/lib/x/" } }],
      ["pool without a tier", { agent: { nodePools: [{ name: "p", nodeSelector: {} }] } }],
      ["pool with an unknown tier", { agent: { nodePools: [{ name: "p", nodeSelector: {}, tier: "fog" }] } }],
      ["non-string pool nodeSelector value", { agent: { nodePools: [{ name: "p", nodeSelector: { "eiaas.io/agent": true }, tier: "edge" }] } }],
      ["pool label with a comma (breaks --labels)", { agent: { nodePools: [{ name: "p", nodeSelector: {}, tier: "edge", labels: { a: "x,y" } }] } }],
      ["taint with a bad effect", { agent: { nodePools: [{ name: "p", nodeSelector: {}, tier: "edge", taints: [{ key: "k", effect: "PreferNoSchedule" }] }] } }],
      ["postgres password that is not URL-safe", { postgresql: { auth: { password: "p@ss/word" } } }],
      ["redis maxmemory above 95%", { redis: { maxmemoryPercent: 100 } }],
    ];
    for (const [why, over] of bad) expect(validate(deepMerge(withImage(defaults()), over)), why).toBe(false);
  });

  it("accepts every value set the chart is tested with (and Helm's global, a 32-character admin token, another agent state path)", () => {
    const more = [
      { global: { imageRegistry: "registry.example.org" } },
      // The shortest admin token the API server starts with, and another host directory for the agents' credentials.
      { adminToken: { value: "0123456789abcdef0123456789abcdef" }, agent: { stateHostPath: "/srv/eiaas" } },
    ];
    for (const set of [...VALUE_SETS.map((s) => s.values), ...more]) {
      const ok = validate(deepMerge(withImage(defaults()), set));
      expect(validate.errors ?? [], JSON.stringify(set)).toEqual([]);
      expect(ok).toBe(true);
    }
  });

  it("Chart.yaml is an apiVersion v2 application chart for Kubernetes 1.26 and later", () => {
    const c = parseYaml(readFileSync(join(CHART, "Chart.yaml"), "utf8")) as Dict;
    expect(c).toMatchObject({ apiVersion: "v2", name: "eiaas", type: "application", kubeVersion: ">=1.26.0-0" });
    expect(String(c.version)).toMatch(/^\d+\.\d+\.\d+/);
    expect(String(c.appVersion)).toMatch(/^\d+\.\d+\.\d+/);
  });
});
