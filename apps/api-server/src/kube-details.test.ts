// Conformance: the smaller gaps stock clients hit (issue 18 item 10) — kubectl v1.32 as a child
// process and @kubernetes/client-node in-process against the API server on Postgres.
import { fileURLToPath } from "node:url";
import { CustomObjectsApi, VersionApi } from "@kubernetes/client-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, KINDS } from "@eiaas/api";
import { startKubeClients, type KubeClients } from "@eiaas/testing/kube-clients";

let k: KubeClients;
const EXAMPLES = fileURLToPath(new URL("../../../deploy/examples/", import.meta.url));

/** Resource names and short names of Kubernetes' built-in resources (v1.32 `kubectl api-resources`). */
const BUILT_IN_NAMES = [
  ...["bindings", "componentstatuses", "cs", "configmaps", "cm", "endpoints", "ep", "events", "ev", "limitranges", "limits", "namespaces", "ns"],
  ...["nodes", "no", "persistentvolumeclaims", "pvc", "persistentvolumes", "pv", "pods", "po", "podtemplates", "replicationcontrollers", "rc"],
  ...["resourcequotas", "quota", "secrets", "serviceaccounts", "sa", "services", "svc", "mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
  ...["customresourcedefinitions", "crd", "crds", "apiservices", "controllerrevisions", "daemonsets", "ds", "deployments", "deploy", "replicasets", "rs"],
  ...["statefulsets", "sts", "tokenreviews", "localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews"],
  ...["horizontalpodautoscalers", "hpa", "cronjobs", "cj", "jobs", "certificatesigningrequests", "csr", "leases", "endpointslices", "flowschemas"],
  ...["prioritylevelconfigurations", "ingressclasses", "ingresses", "ing", "networkpolicies", "netpol", "runtimeclasses", "poddisruptionbudgets", "pdb"],
  ...["clusterrolebindings", "clusterroles", "rolebindings", "roles", "priorityclasses", "pc", "csidrivers", "csinodes", "csistoragecapacities"],
  ...["storageclasses", "sc", "volumeattachments", "node", "pod", "service", "event", "namespace", "job", "deployment"],
];

beforeAll(async () => {
  k = await startKubeClients();
  await k.tenant("acme");
}, 60_000);
afterAll(() => k.close());

const isvc = (extra = "", labels = "") => `apiVersion: eiaas.io/v1alpha1
kind: InferenceService
metadata:
  name: cam
  namespace: acme${labels}
spec:
  model: resnet18${extra}
  clients: {selector: {matchLabels: {tier: device}}}
  slo: {latencyMs: 100}
`;

describe("health and version", () => {
  it("serves /healthz as kube-apiserver does", async () => {
    const r = await k.kubectl(["get", "--raw", "/healthz"]);
    expect(r).toMatchObject({ code: 0, stdout: "ok" });
  });

  it("reports a Kubernetes version (no skew warning from kubectl) and eiaas' own in extras", async () => {
    const r = await k.kubectl(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Server Version: v1\.32\.0\+eiaas-v\d+\.\d+\.\d+/);
    expect(r.stderr).not.toMatch(/version difference|skew/i);
    const info = await (await k.kubeConfig()).makeApiClient(VersionApi).getCode();
    expect(info).toMatchObject({ major: "1", minor: "32" });
    const raw = await request(k.api.app).get("/version").expect(200);
    expect(raw.body.eiaas.version).toMatch(/^v\d+\.\d+\.\d+$/);
  });
});

describe("names", () => {
  it("publishes no short name or resource name of a Kubernetes built-in for an eiaas kind", () => {
    for (const kind of KINDS) {
      for (const name of kind.shortNames) expect(BUILT_IN_NAMES, `${kind.kind} short name ${name}`).not.toContain(name);
      // events.eiaas.io shares its name with core Events on purpose: the same objects.
      if (kind.kind !== "Event") expect(BUILT_IN_NAMES).not.toContain(kind.plural);
    }
  });

  it("kubectl resolves en to EdgeNodes, and node or nodes to no eiaas kind", async () => {
    await k.kubectl([
      "apply",
      "-f",
      await k.file("node.yaml", "apiVersion: eiaas.io/v1alpha1\nkind: EdgeNode\nmetadata: {name: edge-1}\nspec: {tier: edge, capacity: {cpu: 8000, memoryMiB: 16384}}\n"),
    ]);
    expect((await k.kubectl(["get", "en", "-o", "name"])).stdout.trim()).toBe("edgenode.eiaas.io/edge-1");
    for (const name of ["nodes", "node"]) {
      const nodes = await k.kubectl(["get", name]);
      expect(nodes.code).toBe(1);
      expect(nodes.stderr).toContain(`the server doesn't have a resource type "${name}"`);
    }
  });
});

describe("errors", () => {
  it("a missing object's NotFound names its group in details", async () => {
    const r = await request(k.api.app)
      .get(`${API_PREFIX}/namespaces/acme/inferenceservices/nope`)
      .set({ Authorization: `Bearer ${k.api.adminToken}` })
      .expect(404);
    expect(r.body.details).toEqual({ name: "nope", group: "eiaas.io", kind: "inferenceservices" });
    const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
    const err = await custom
      .getNamespacedCustomObject({ group: "eiaas.io", version: "v1alpha1", namespace: "acme", plural: "inferenceservices", name: "nope" })
      .catch((e: { code: number; body: string }) => e);
    expect(err).toMatchObject({ code: 404 });
    expect(JSON.parse((err as { body: string }).body).details.group).toBe("eiaas.io");
    // Cached GETs (the watch cache's path) answer the same.
    const cached = await request(k.api.app)
      .get(`${API_PREFIX}/edgenodes/nope`)
      .set({ Authorization: `Bearer ${k.api.adminToken}` })
      .expect(404);
    expect(cached.body.details).toEqual({ name: "nope", group: "eiaas.io", kind: "edgenodes" });
  });
});

describe("objects as returned", () => {
  it("carry no empty labels or annotations", async () => {
    await k.tenant("bare");
    const yaml = await k.kubectl(["get", "tenant", "bare", "-o", "yaml"]);
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).not.toMatch(/labels: \{\}|annotations: \{\}/);
    const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
    const tenant = (await custom.getClusterCustomObject({ group: "eiaas.io", version: "v1alpha1", plural: "tenants", name: "bare" })) as { metadata: Record<string, unknown> };
    expect(tenant.metadata).not.toHaveProperty("labels");
    expect(tenant.metadata).not.toHaveProperty("annotations");
    const listed = (await custom.listClusterCustomObject({ group: "eiaas.io", version: "v1alpha1", plural: "tenants" })) as { items: Array<{ metadata: Record<string, unknown> }> };
    expect(listed.items.every((t) => !("labels" in t.metadata) && !("annotations" in t.metadata))).toBe(true);
    await k.kubectl(["label", "tenant", "bare", "team=x"]);
    await k.kubectl(["label", "tenant", "bare", "team-"]);
    const relabelled = (await custom.getClusterCustomObject({ group: "eiaas.io", version: "v1alpha1", plural: "tenants", name: "bare" })) as { metadata: Record<string, unknown> };
    expect(relabelled.metadata).not.toHaveProperty("labels");
  });
});

describe("deploy/examples", () => {
  it("kubectl apply -f deploy/examples/ exits 0 (every file is a manifest)", async () => {
    // The tenant first: kubectl applies the files in name order, models before the tenant.
    expect((await k.kubectl(["apply", "-f", `${EXAMPLES}tenant-demo.yaml`])).code).toBe(0);
    const r = await k.kubectl(["apply", "-f", EXAMPLES], { timeoutMs: 60_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("edgenode.eiaas.io/region-a created");
    expect(r.stdout).toContain("model.eiaas.io/resnet18 created");
  });
});

describe("fieldValidation", () => {
  it("kubectl --validate=strict refuses an unknown field, warn drops it with a warning, ignore drops it silently", async () => {
    const bad = await k.file("bad.yaml", isvc("\n  colour: blue"));
    const strict = await k.kubectl(["apply", "--validate=strict", "-f", bad]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain("spec.colour");

    const warn = await k.kubectl(["apply", "--validate=warn", "-f", bad]);
    expect(warn.code).toBe(0);
    expect(warn.stdout).toContain("inferenceservice.eiaas.io/cam created");
    expect(warn.stderr).toContain('unknown field "spec.colour"');
    expect((await k.kubectl(["get", "isvc", "cam", "-o", "jsonpath={.spec}"])).stdout).not.toContain("colour");

    // An update (kubectl apply's merge patch) follows it too.
    const worse = await k.file("worse.yaml", isvc("\n  colour: red\n  shade: dark", "\n  labels: {app: cam}"));
    const ignore = await k.kubectl(["apply", "--validate=false", "-f", worse]);
    expect(ignore.code).toBe(0);
    expect(ignore.stderr).toBe("");
    expect((await k.kubectl(["get", "isvc", "cam", "-o", "jsonpath={.metadata.labels.app}"])).stdout).toBe("cam");
    const patchWarn = await k.kubectl(["apply", "--validate=warn", "-f", bad]);
    expect(patchWarn.stderr).toContain('unknown field "spec.colour"');
  });

  it("client-node: Warn answers with a Warning header, an unknown fieldValidation value is 400, other errors stay 422", async () => {
    const body = {
      apiVersion: "eiaas.io/v1alpha1",
      kind: "Model",
      metadata: { name: "m1", namespace: "acme", colour: "x" },
      spec: { layers: [{ name: "l", flops: 1, outputBytes: 1, memoryMiB: 1, size: 2 }], inputBytes: 1, accuracy: 0.9 },
    };
    const post = (q: string, b: object = body) =>
      request(k.api.app)
        .post(`${API_PREFIX}/namespaces/acme/models${q}`)
        .set({ Authorization: `Bearer ${k.api.adminToken}` })
        .send(b);
    const warned = await post("?fieldValidation=Warn&dryRun=All").expect(201);
    expect(warned.headers.warning).toContain('299 - "unknown field \\"metadata.colour\\""');
    expect(warned.headers.warning).toContain('299 - "unknown field \\"spec.layers[0].size\\""');
    expect(warned.body.metadata).not.toHaveProperty("colour");
    const ignored = await post("?fieldValidation=Ignore&dryRun=All").expect(201);
    expect(ignored.headers.warning).toBeUndefined();
    expect((await post("?fieldValidation=Loose")).status).toBe(400);
    const strict = await post("").expect(422);
    expect(strict.body.details.causes.map((c: { field: string }) => c.field)).toEqual(expect.arrayContaining(["metadata.colour", "spec.layers[0].size"]));
    const invalid = await post("?fieldValidation=Ignore", { ...body, spec: { ...body.spec, accuracy: 7 } }).expect(422);
    expect(invalid.body.details.causes.map((c: { field: string }) => c.field)).toEqual(["spec.accuracy"]);
  });
});
