// Conformance: deletion as stock clients drive it (issue 18 item 7: deletecollection) — kubectl
// v1.32 as a child process and @kubernetes/client-node in-process against the API server on Postgres.
import { CustomObjectsApi } from "@kubernetes/client-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, KINDS } from "@eiaas/api";
import { startKubeClients, type KubeClients } from "@eiaas/testing/kube-clients";

let k: KubeClients;
let acmeToken: string;
const EIAAS = { group: "eiaas.io", version: "v1alpha1" };

const model = (name: string, ns: string, team: string) => ({
  apiVersion: "eiaas.io/v1alpha1",
  kind: "Model",
  metadata: { name, namespace: ns, labels: { team } },
  spec: { layers: [{ name: "l", flops: 1, outputBytes: 1, memoryMiB: 1 }], inputBytes: 1, accuracy: 0.9 },
});

beforeAll(async () => {
  k = await startKubeClients();
  await k.tenant("acme");
  await k.tenant("beta");
  acmeToken = await k.api.tenantToken("acme");
  const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
  for (const [name, ns, team] of [
    ["a1", "acme", "red"],
    ["a2", "acme", "red"],
    ["a3", "acme", "blue"],
    ["b1", "beta", "red"],
  ] as const) {
    await custom.createNamespacedCustomObject({ ...EIAAS, namespace: ns, plural: "models", body: model(name, ns, team) });
  }
}, 60_000);
afterAll(() => k.close());

describe("deletecollection (item 7)", () => {
  it("is listed in discovery for every kind", async () => {
    const wide = await k.kubectl(["api-resources", "--api-group=eiaas.io", "-o", "wide"]);
    for (const kind of KINDS) expect(wide.stdout).toMatch(new RegExp(`^${kind.plural}\\s.*create,delete,deletecollection,get,list,patch,update,watch`, "m"));
  });

  it("client-node deletes what a label selector matches, in the caller's namespace only", async () => {
    const custom = (await k.kubeConfig(acmeToken)).makeApiClient(CustomObjectsApi);
    const dry = (await custom.deleteCollectionNamespacedCustomObject({ ...EIAAS, namespace: "acme", plural: "models", labelSelector: "team=red", dryRun: "All" })) as {
      items: Array<{ metadata: { name: string } }>;
    };
    expect(dry.items.map((m) => m.metadata.name)).toEqual(["a1", "a2"]);
    expect((await k.kubectl(["get", "models", "-n", "acme", "-o", "name"])).stdout.trim().split("\n")).toHaveLength(3);
    const done = (await custom.deleteCollectionNamespacedCustomObject({ ...EIAAS, namespace: "acme", plural: "models", labelSelector: "team=red" })) as {
      kind: string;
      items: Array<{ metadata: { name: string } }>;
    };
    expect(done.kind).toBe("ModelList");
    expect(done.items.map((m) => m.metadata.name)).toEqual(["a1", "a2"]);
    expect((await k.kubectl(["get", "models", "-A", "-o", "name"])).stdout.trim().split("\n").sort()).toEqual(["model.eiaas.io/a3", "model.eiaas.io/b1"]);
    await expect(custom.deleteCollectionNamespacedCustomObject({ ...EIAAS, namespace: "beta", plural: "models" })).rejects.toMatchObject({ code: 404 });
    expect((await k.kubectl(["get", "model", "b1", "-n", "beta", "-o", "name"])).stdout.trim()).toBe("model.eiaas.io/b1");
  });

  it("follows each kind's rules: a tenant may not delete Tasks or Events, nor cluster-scoped kinds; no cluster-wide form for namespaced kinds", async () => {
    const as = (token: string) => ({ Authorization: `Bearer ${token}` });
    expect((await request(k.api.app).delete(`${API_PREFIX}/namespaces/acme/tasks`).set(as(acmeToken))).status).toBe(403);
    expect((await request(k.api.app).delete(`${API_PREFIX}/namespaces/acme/events`).set(as(acmeToken))).status).toBe(403);
    expect((await request(k.api.app).delete(`${API_PREFIX}/edgenodes`).set(as(acmeToken))).status).toBe(403);
    expect((await request(k.api.app).delete(`${API_PREFIX}/tenants`).set(as(acmeToken))).status).toBe(403);
    const agent = (await k.api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
    expect((await request(k.api.app).delete(`${API_PREFIX}/edgenodes`).set(as(agent))).status).toBe(403);
    const wide = await request(k.api.app).delete(`${API_PREFIX}/models`).set(as(k.api.adminToken));
    expect(wide.status).toBe(405);
    expect(wide.body).toMatchObject({ kind: "Status", reason: "MethodNotAllowed" });
    expect((await request(k.api.app).delete(`${API_PREFIX}/namespaces/acme/models?fieldSelector=spec.colour%3Dx`).set(as(k.api.adminToken))).status).toBe(400);
    // A selector given twice was one ignored: the delete would have been wider than asked.
    expect((await request(k.api.app).delete(`${API_PREFIX}/namespaces/acme/models?labelSelector=team%3Dnone&labelSelector=team%3Dnone2`).set(as(k.api.adminToken))).status).toBe(400);
    expect((await k.kubectl(["get", "models", "-A", "-o", "name"])).stdout.trim().split("\n")).toHaveLength(2);
  });

  it("the admin deletes a cluster-scoped collection (EdgeNodes) by label, or by field over HTTP", async () => {
    for (const n of ["e1", "e2", "e3"])
      await k.kubectl([
        "apply",
        "-f",
        await k.file(`${n}.yaml`, `apiVersion: eiaas.io/v1alpha1\nkind: EdgeNode\nmetadata: {name: ${n}, labels: {rack: ${n}}}\nspec: {tier: edge, capacity: {cpu: 1000, memoryMiB: 1024}}\n`),
      ]);
    const byField = await request(k.api.app)
      .delete(`${API_PREFIX}/edgenodes?fieldSelector=metadata.name%3De3`)
      .set({ Authorization: `Bearer ${k.api.adminToken}` })
      .expect(200);
    expect(byField.body.items.map((n: { metadata: { name: string } }) => n.metadata.name)).toEqual(["e3"]);
    const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
    const done = (await custom.deleteCollectionClusterCustomObject({ ...EIAAS, plural: "edgenodes", labelSelector: "rack=e1" })) as { items: Array<{ metadata: { name: string } }> };
    expect(done.items.map((n) => n.metadata.name)).toEqual(["e1"]);
    expect((await k.kubectl(["get", "en", "-o", "name"])).stdout.trim()).toBe("edgenode.eiaas.io/e2");
  });
});
