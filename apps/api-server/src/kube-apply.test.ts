// Conformance: server-side apply (issue 18 item 4) — kubectl v1.32 `apply --server-side` as a
// child process and @kubernetes/client-node's PatchStrategy.ServerSideApply in-process against the
// API server on Postgres: managedFields, conflicts, --force-conflicts, Update entries, list types.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, type ManagedFieldsEntry } from "@eiaas/api";
import { startKubeClients, type KubeClients } from "@eiaas/testing/kube-clients";

let k: KubeClients;
let acmeToken: string;
const EIAAS = { group: "eiaas.io", version: "v1alpha1" };

const isvc = (name: string, latency: number, labels = "") => `apiVersion: eiaas.io/v1alpha1
kind: InferenceService
metadata:
  name: ${name}
  namespace: acme${labels}
spec:
  model: resnet18
  clients: {selector: {matchLabels: {tier: device}}}
  slo: {latencyMs: ${latency}}
`;

interface Obj {
  metadata: { labels?: Record<string, string>; managedFields?: ManagedFieldsEntry[]; resourceVersion: string };
  spec: { slo: { latencyMs: number }; capabilities?: string[] };
}

async function get(name: string, plural = "isvc"): Promise<Obj> {
  const r = await k.kubectl(["get", plural, name, "-n", "acme", "-o", "json", "--show-managed-fields"]);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as Obj;
}

const entry = (o: Obj, manager: string) => o.metadata.managedFields?.find((m) => m.manager === manager);

beforeAll(async () => {
  k = await startKubeClients();
  await k.tenant("acme");
  acmeToken = await k.api.tenantToken("acme");
}, 60_000);
afterAll(() => k.close());

describe("server-side apply (item 4)", () => {
  it("kubectl apply --server-side creates, records an Apply entry, and changes nothing when applied again", async () => {
    const file = await k.file("ssa1.yaml", isvc("ssa1", 100, "\n  labels: {team: red}"));
    const r = await k.kubectl(["apply", "--server-side", "-f", file]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("inferenceservice.eiaas.io/ssa1 serverside-applied");
    const o = await get("ssa1");
    expect(entry(o, "kubectl")).toMatchObject({ operation: "Apply", apiVersion: "eiaas.io/v1alpha1", fieldsType: "FieldsV1" });
    expect(entry(o, "kubectl")!.fieldsV1).toMatchObject({ "f:metadata": { "f:labels": { "f:team": {} } }, "f:spec": { "f:slo": { "f:latencyMs": {} }, "f:model": {} } });
    expect((await k.kubectl(["apply", "--server-side", "-f", file])).stderr).toBe("");
    expect((await get("ssa1")).metadata.resourceVersion).toBe(o.metadata.resourceVersion);
  });

  it("another manager's change conflicts (409 naming field and manager); --force-conflicts takes the field over", async () => {
    const file = await k.file("ssa1-other.yaml", isvc("ssa1", 60));
    const refused = await k.kubectl(["apply", "--server-side", "--field-manager=tuner", "-f", file]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('conflict with "kubectl"');
    expect(refused.stderr).toContain(".spec.slo.latencyMs");
    expect((await get("ssa1")).spec.slo.latencyMs).toBe(100);

    const forced = await k.kubectl(["apply", "--server-side", "--field-manager=tuner", "--force-conflicts", "-f", file]);
    expect(forced.stderr).toBe("");
    const o = await get("ssa1");
    expect(o.spec.slo.latencyMs).toBe(60);
    expect(entry(o, "tuner")!.fieldsV1).toMatchObject({ "f:spec": { "f:slo": { "f:latencyMs": {} } } });
    expect(JSON.stringify(entry(o, "kubectl")!.fieldsV1)).not.toContain("latencyMs");
    // Same values the other manager set: shared, no conflict.
    expect((await k.kubectl(["apply", "--server-side", "--field-manager=copier", "-f", file])).stderr).toBe("");
  });

  it("a field its manager stops applying is removed; ownership survives ordinary updates, which record Update entries", async () => {
    const label = await k.kubectl(["label", "isvc", "ssa1", "-n", "acme", "stage=canary"]);
    expect(label.stderr).toBe("");
    let o = await get("ssa1");
    expect(entry(o, "kubectl-label")).toMatchObject({ operation: "Update", fieldsV1: { "f:metadata": { "f:labels": { "f:stage": {} } } } });
    expect(entry(o, "kubectl")!.fieldsV1).toMatchObject({ "f:metadata": { "f:labels": { "f:team": {} } } });
    // kubectl applies again without its label: it goes; the other manager's label stays.
    const without = await k.kubectl(["apply", "--server-side", "-f", await k.file("ssa1-nolabel.yaml", isvc("ssa1", 60))]);
    expect(without.stderr).toBe("");
    o = await get("ssa1");
    expect(o.metadata.labels).toEqual({ stage: "canary" });
    // Changing the label the update set conflicts with its manager.
    const relabel = await k.kubectl(["apply", "--server-side", "-f", await k.file("ssa1-stage.yaml", isvc("ssa1", 60, "\n  labels: {stage: prod}"))]);
    expect(relabel.stderr).toContain('conflict with "kubectl-label"');
  });

  it("kubectl moves an object from client-side to server-side apply without a conflict (its managedFields rewrite is honoured)", async () => {
    expect((await k.kubectl(["apply", "-f", await k.file("csa.yaml", isvc("csa", 100))])).stderr).toBe("");
    expect(entry(await get("csa"), "kubectl-client-side-apply")?.operation).toBe("Update");
    const r = await k.kubectl(["apply", "--server-side", "-f", await k.file("csa2.yaml", isvc("csa", 90))]);
    expect(r.stderr).toBe("");
    const o = await get("csa");
    expect(o.spec.slo.latencyMs).toBe(90);
    expect(entry(o, "kubectl")?.operation).toBe("Apply");
    expect(entry(o, "kubectl-client-side-apply")).toBeUndefined();
  });

  it("list types from the OpenAPI: a set merges by value across managers", async () => {
    const model = (caps: string) => `apiVersion: eiaas.io/v1alpha1
kind: Model
metadata: {name: m1, namespace: acme}
spec:
  layers: [{name: l, flops: 1, outputBytes: 1, memoryMiB: 1}]
  inputBytes: 1
  accuracy: 0.9
  capabilities: [${caps}]
`;
    expect((await k.kubectl(["apply", "--server-side", "--field-manager=a", "-f", await k.file("m1a.yaml", model("vision"))])).stderr).toBe("");
    // The same layers (an atomic list) are shared; the capabilities (a set) are merged.
    expect((await k.kubectl(["apply", "--server-side", "--field-manager=b", "-f", await k.file("m1b.yaml", model("audio"))])).stderr).toBe("");
    const m = await get("m1", "model");
    expect(m.spec.capabilities).toEqual(["vision", "audio"]);
    expect(entry(m, "b")!.fieldsV1).toMatchObject({ "f:spec": { "f:capabilities": { 'v:"audio"': {} }, "f:layers": {} } });
    // Other layers (the atomic list as a whole) conflict with both managers that set them.
    const other = await k.kubectl(["apply", "--server-side", "--field-manager=c", "-f", await k.file("m1c.yaml", model("audio").replace("name: l,", "name: l2,"))]);
    expect(other.stderr).toContain('conflict with "a"');
    expect(other.stderr).toContain(".spec.layers");
    // b stops applying "audio": the set loses it, a's value stays.
    expect((await k.kubectl(["apply", "--server-side", "--field-manager=b", "-f", await k.file("m1b2.yaml", model(""))])).stderr).toBe("");
    expect((await get("m1", "model")).spec.capabilities).toEqual(["vision"]);
  });

  it("keyed lists (EdgeNode taints by key and effect): an item dropped goes whole, re-keying replaces it, an empty list owns nothing", async () => {
    const node = (taints: string) => `apiVersion: eiaas.io/v1alpha1
kind: EdgeNode
metadata: {name: en-taints}
spec:
  tier: edge
  capacity: {cpu: 1000, memoryMiB: 1024}
${taints}`;
    const taintsOf = async () => (JSON.parse((await k.kubectl(["get", "en", "en-taints", "-o", "json"])).stdout) as { spec: { taints?: unknown[] } }).spec.taints;
    const ssa = async (manager: string, taints: string) => k.kubectl(["apply", "--server-side", `--field-manager=${manager}`, "-f", await k.file(`en-taints-${manager}.yaml`, node(taints))]);
    // Created without taints (the default, an empty list): that owns nothing, so ops adds some freely.
    expect((await k.kubectl(["create", "-f", await k.file("en-taints.yaml", node(""))])).stderr).toBe("");
    expect((await ssa("ops", "  taints: [{key: gpu, effect: NoSchedule, value: a}, {key: maint, effect: NoExecute}]")).stderr).toBe("");
    // kubectl patch changes a field inside ops' gpu taint: its Update entry owns that field, not the item.
    expect((await k.kubectl(["patch", "en", "en-taints", "--type=json", "-p", '[{"op":"replace","path":"/spec/taints/0/value","value":"b"}]'])).stderr).toBe("");
    // ops stops applying the gpu taint: it goes whole (no conflict for a removal, no item left without its key).
    expect((await ssa("ops", "  taints: [{key: maint, effect: NoExecute}]")).stderr).toBe("");
    expect(await taintsOf()).toEqual([{ key: "maint", effect: "NoExecute" }]);
    // Re-keyed (another effect): the old item goes, the new one comes.
    expect((await ssa("ops", "  taints: [{key: maint, effect: NoSchedule}]")).stderr).toBe("");
    expect(await taintsOf()).toEqual([{ key: "maint", effect: "NoSchedule" }]);
    // An empty list drops ops' items and owns nothing: another manager adds its own without a conflict.
    expect((await ssa("ops", "  taints: []")).stderr).toBe("");
    expect(await taintsOf()).toEqual([]);
    expect((await ssa("lab", "  taints: [{key: lab, effect: NoSchedule}]")).stderr).toBe("");
    expect(await taintsOf()).toEqual([{ key: "lab", effect: "NoSchedule" }]);
  }, 90_000); // a dozen kubectl runs, on a shared machine

  it("client-node PatchStrategy.ServerSideApply: creates, conflicts with a Status naming each field and manager, forces", async () => {
    const custom = (await k.kubeConfig(acmeToken)).makeApiClient(CustomObjectsApi);
    const target = { ...EIAAS, namespace: "acme", plural: "inferenceservices", name: "cn1" };
    const body = (latencyMs: number) => ({
      apiVersion: "eiaas.io/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "cn1", namespace: "acme" },
      spec: { model: "resnet18", clients: { selector: { matchLabels: { tier: "device" } } }, slo: { latencyMs } },
    });
    const ssa = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);
    const created = (await custom.patchNamespacedCustomObject({ ...target, body: body(80), fieldManager: "app" }, ssa)) as Obj;
    expect(entry(created, "app")?.operation).toBe("Apply");
    const err = await custom.patchNamespacedCustomObject({ ...target, body: body(40), fieldManager: "ops" }, ssa).then(
      () => undefined,
      (e: { code: number; body: string }) => e,
    );
    expect(err?.code).toBe(409);
    const status = JSON.parse(err!.body) as { reason: string; details: { causes: Array<{ reason: string; field: string; message: string }> } };
    expect(status.reason).toBe("Conflict");
    expect(status.details.causes).toEqual([{ reason: "FieldManagerConflict", field: ".spec.slo.latencyMs", message: 'conflict with "app" using eiaas.io/v1alpha1' }]);
    const forced = (await custom.patchNamespacedCustomObject({ ...target, body: body(40), fieldManager: "ops", force: true }, ssa)) as Obj;
    expect(forced.spec.slo.latencyMs).toBe(40);
  });

  it("refuses bad applies with a Status, and keeps each caller to its RBAC", async () => {
    const url = `${API_PREFIX}/namespaces/acme/inferenceservices/ssa1`;
    const as = (t: string) => ({ Authorization: `Bearer ${t}`, "Content-Type": "application/apply-patch+yaml" });
    const good = isvc("ssa1", 60);
    const send = (body: string, query = "?fieldManager=x", token = k.api.adminToken) => request(k.api.app).patch(`${url}${query}`).set(as(token)).send(body);
    expect((await send(good, "")).status).toBe(422); // fieldManager is required
    expect((await send(good, "?fieldManager=x&force=maybe")).status).toBe(400);
    expect(
      (
        await request(k.api.app)
          .patch(`${url}?force=true`)
          .set({ Authorization: `Bearer ${k.api.adminToken}`, "Content-Type": "application/merge-patch+json" })
          .send({})
      ).status,
    ).toBe(422);
    expect((await send(good.replace("kind: InferenceService", "kind: Model"))).status).toBe(400);
    expect((await send(`${good}  colour: blue\n`)).body).toMatchObject({ code: 422, details: { causes: [{ field: "spec.colour" }] } });
    expect((await send(good.replace("namespace: acme", "namespace: acme\n  managedFields: [{manager: x}]"))).status).toBe(400);
    expect(
      (
        await send(
          "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
        )
      ).status,
    ).toBe(400);
    expect((await send("{a: 1, a: 2}")).status).toBe(400);
    expect((await send('{"__proto__": {"x": 1}}')).status).toBe(400);
    // A tenant applies in its own namespace only; an agent not at all.
    const beta = `${API_PREFIX}/namespaces/beta/inferenceservices/x?fieldManager=t`;
    expect((await request(k.api.app).patch(beta).set(as(acmeToken)).send(isvc("x", 1).replace("namespace: acme", "namespace: beta"))).status).toBe(404);
    const agent = (await k.api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
    expect((await send(good, "?fieldManager=x", agent)).status).toBe(403);
    const created = await request(k.api.app).patch(`${API_PREFIX}/namespaces/acme/inferenceservices/tn1?fieldManager=t`).set(as(acmeToken)).send(isvc("tn1", 5));
    expect(created.status).toBe(201);
    expect((await get("ssa1")).spec.slo.latencyMs).toBe(60);
  });
});
