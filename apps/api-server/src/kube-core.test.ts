// Conformance: the core group stock clients need (issue 18 items 1 and 2) — kubectl v1.32 as a
// child process and @kubernetes/client-node in-process against the API server on Postgres.
import { CoreV1Api, Watch } from "@kubernetes/client-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { EventRecorder } from "@eiaas/db";
import { startKubeClients, type KubeClients } from "@eiaas/testing/kube-clients";

let k: KubeClients;
let acmeToken: string;
let camUid: string;

const isvc = (name: string, ns = "acme") => `apiVersion: eiaas.io/v1alpha1
kind: InferenceService
metadata: {name: ${name}, namespace: ${ns}}
spec:
  model: resnet18
  clients: {selector: {matchLabels: {tier: device}}}
  slo: {latencyMs: 100}
`;

beforeAll(async () => {
  k = await startKubeClients();
  await k.tenant("acme");
  await k.tenant("beta");
  acmeToken = await k.api.tenantToken("acme");
  expect((await k.kubectl(["apply", "-f", await k.file("cam.yaml", isvc("cam"))])).code).toBe(0);
  expect((await k.kubectl(["apply", "-f", await k.file("other.yaml", isvc("other", "beta"))])).code).toBe(0);
  camUid = (await k.kubectl(["get", "isvc", "cam", "-o", "jsonpath={.metadata.uid}"])).stdout;
  const otherUid = (await k.kubectl(["get", "isvc", "other", "-n", "beta", "-o", "jsonpath={.metadata.uid}"])).stdout;
  const recorder = new EventRecorder(k.api.store, "eiaas-scheduler");
  await recorder.record({ involved: { kind: "InferenceService", name: "cam", namespace: "acme", uid: camUid }, type: "Normal", reason: "Scheduled", message: "placed on edge-1" });
  await recorder.record({ involved: { kind: "InferenceService", name: "cam", namespace: "acme", uid: camUid }, type: "Warning", reason: "SLOUnmet", message: "latency 140ms over 100ms" });
  await new EventRecorder(k.api.store, "eiaas-agent").record({ involved: { kind: "Task", name: "cam-serve", namespace: "acme" }, type: "Normal", reason: "Started", message: "running" });
  await recorder.record({ involved: { kind: "InferenceService", name: "other", namespace: "beta", uid: otherUid }, type: "Normal", reason: "Scheduled", message: "beta's secret placement" });
}, 60_000);
afterAll(() => k.close());

describe("core discovery and namespaces (item 1)", () => {
  it("kubectl get of a missing namespaced object says the object is not found, not the namespace path", async () => {
    const r = await k.kubectl(["get", "isvc", "nonexist"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NotFound.*inferenceservices(\.eiaas\.io)? "nonexist" not found/);
    expect(r.stderr).not.toContain("/api/v1/namespaces");
  });

  it("kubectl api-resources lists the core namespaces and events beside the eiaas kinds", async () => {
    const r = await k.kubectl(["api-resources", "--api-group="]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/namespaces\s+ns\s+v1\s+false\s+Namespace/);
    expect(r.stdout).toMatch(/events\s+ev\s+v1\s+true\s+Event/);
  });

  it("kubectl get ns shows the tenants the caller may see, as Namespaces", async () => {
    const all = await k.kubectl(["get", "ns"]);
    expect(all.stdout).toMatch(/NAME\s+STATUS\s+AGE/);
    expect(all.stdout).toMatch(/acme\s+Active/);
    expect(all.stdout).toMatch(/beta\s+Active/);
    const own = await k.kubectl(["get", "namespaces"], { token: acmeToken });
    expect(own.stdout).toMatch(/acme\s+Active/);
    expect(own.stdout).not.toContain("beta");
    const other = await k.kubectl(["get", "ns", "beta"], { token: acmeToken });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('namespaces "beta" not found');
    const yaml = await k.kubectl(["get", "ns", "acme", "-o", "yaml"], { token: acmeToken });
    expect(yaml.stdout).toContain("kind: Namespace");
    expect(yaml.stdout).toContain("kubernetes.io/metadata.name: acme");
    expect(yaml.stdout).toContain("phase: Active");
    const selected = await k.kubectl(["get", "ns", "-l", "kubernetes.io/metadata.name=beta", "-o", "name"]);
    expect(selected.stdout.trim()).toBe("namespace/beta");
  });

  it("client-node reads, lists and watches namespaces; writes are refused", async () => {
    const core = (await k.kubeConfig(acmeToken)).makeApiClient(CoreV1Api);
    const list = await core.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toEqual(["acme"]);
    expect((await core.readNamespace({ name: "acme" })).status?.phase).toBe("Active");
    await expect(core.readNamespace({ name: "beta" })).rejects.toMatchObject({ code: 404 });
    const admin = (await k.kubeConfig()).makeApiClient(CoreV1Api);
    await expect(admin.createNamespace({ body: { metadata: { name: "gamma" } } })).rejects.toMatchObject({ code: 405 });
    await expect(admin.deleteNamespace({ name: "acme" })).rejects.toMatchObject({ code: 405 });

    const seen: string[] = [];
    const watch = new Watch(await k.kubeConfig());
    const req = await watch.watch(
      "/api/v1/namespaces",
      {},
      (type, obj) => seen.push(`${type} ${obj.kind} ${obj.metadata.name}`),
      () => undefined,
    );
    await k.tenant("gamma");
    for (let i = 0; i < 50 && !seen.includes("ADDED Namespace gamma"); i++) await new Promise((r) => setTimeout(r, 100));
    req.abort();
    expect(seen).toEqual(expect.arrayContaining(["ADDED Namespace acme", "ADDED Namespace beta", "ADDED Namespace gamma"]));
  });

  it("an agent token may not read namespaces", async () => {
    const agent = (await k.api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
    const r = await request(k.api.app)
      .get("/api/v1/namespaces")
      .set({ Authorization: `Bearer ${agent}` });
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ kind: "Status", reason: "Forbidden" });
    expect((await request(k.api.app).get("/api/v1/namespaces")).status).toBe(401);
  });
});

describe("core v1 Events (item 2)", () => {
  it("kubectl describe shows the object's Events", async () => {
    const r = await k.kubectl(["describe", "isvc", "cam"]);
    expect(r.code).toBe(0);
    const events = r.stdout.slice(r.stdout.indexOf("Events:"));
    expect(events).toMatch(/Normal\s+Scheduled\s+\S+\s+eiaas-scheduler\s+placed on edge-1/);
    expect(events).toMatch(/Warning\s+SLOUnmet/);
    expect(events).not.toContain("Started");
  });

  it("kubectl events lists a namespace's Events, and --for one object's", async () => {
    const all = await k.kubectl(["events"], { token: acmeToken });
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE/);
    expect(all.stdout).toContain("placed on edge-1");
    expect(all.stdout).toContain("Task/cam-serve");
    expect(all.stdout).not.toContain("beta's secret");
    const one = await k.kubectl(["events", "--for", "isvc/cam", "--types", "Warning"]);
    expect(one.stdout).toContain("SLOUnmet");
    expect(one.stdout).not.toContain("placed on edge-1");
    expect((await k.kubectl(["get", "events", "-A"])).stdout).toContain("beta's secret");
    expect((await k.kubectl(["events", "-n", "beta"], { token: acmeToken })).stderr).toContain('namespaces "beta" not found');
  });

  it("client-node lists Events by the field selectors client-go uses", async () => {
    const core = (await k.kubeConfig(acmeToken)).makeApiClient(CoreV1Api);
    const reasons = async (fieldSelector: string) => (await core.listNamespacedEvent({ namespace: "acme", fieldSelector })).items.map((e) => e.reason).sort();
    expect(await reasons(`involvedObject.name=cam,involvedObject.namespace=acme,involvedObject.kind=InferenceService,involvedObject.uid=${camUid}`)).toEqual(["SLOUnmet", "Scheduled"]);
    expect(await reasons("involvedObject.kind=Task")).toEqual(["Started"]);
    expect(await reasons("reason=Scheduled")).toEqual(["Scheduled"]);
    expect(await reasons("type=Warning")).toEqual(["SLOUnmet"]);
    expect(await reasons("source=eiaas-agent")).toEqual(["Started"]);
    expect(await reasons("type!=Warning,involvedObject.apiVersion=eiaas.io/v1alpha1")).toEqual(["Scheduled", "Started"]);
    await expect(core.listNamespacedEvent({ namespace: "acme", fieldSelector: "message=x" })).rejects.toMatchObject({ code: 400 });
    const list = await core.listNamespacedEvent({ namespace: "acme" });
    expect(list.items[0]).toMatchObject({ apiVersion: "v1", kind: "Event" });
    const one = await core.readNamespacedEvent({ namespace: "acme", name: list.items[0]!.metadata!.name! });
    expect(one.involvedObject.namespace).toBe("acme");

    const seen: string[] = [];
    const watch = new Watch(await k.kubeConfig(acmeToken));
    const req = await watch.watch(
      "/api/v1/namespaces/acme/events",
      { fieldSelector: "source=eiaas-agent" },
      (type, obj) => seen.push(`${type} ${obj.apiVersion} ${obj.reason}`),
      () => undefined,
    );
    await new EventRecorder(k.api.store, "eiaas-agent").record({ involved: { kind: "Task", name: "cam-serve", namespace: "acme" }, type: "Warning", reason: "BackOff", message: "restarting" });
    await new EventRecorder(k.api.store, "eiaas-scheduler").record({
      involved: { kind: "InferenceService", name: "cam", namespace: "acme", uid: camUid },
      type: "Normal",
      reason: "Replanned",
      message: "moved",
    });
    for (let i = 0; i < 50 && !seen.includes("ADDED v1 BackOff"); i++) await new Promise((r) => setTimeout(r, 100));
    req.abort();
    expect(seen).toEqual(["ADDED v1 Started", "ADDED v1 BackOff"]);
  });

  it("an agent token may not read Events; a tenant's other-namespace read is NotFound", async () => {
    const agent = (await k.api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
    expect(
      (
        await request(k.api.app)
          .get("/api/v1/namespaces/acme/events")
          .set({ Authorization: `Bearer ${agent}` })
      ).status,
    ).toBe(403);
    const r = await request(k.api.app)
      .get("/api/v1/namespaces/beta/events")
      .set({ Authorization: `Bearer ${acmeToken}` });
    expect(r.status).toBe(404);
    const all = await request(k.api.app)
      .get("/api/v1/events")
      .set({ Authorization: `Bearer ${acmeToken}` })
      .expect(200);
    expect(all.body.items.map((e: any) => e.metadata.namespace)).not.toContain("beta");
    expect(
      (
        await request(k.api.app)
          .get(`${API_PREFIX}/namespaces/acme/events`)
          .set({ Authorization: `Bearer ${acmeToken}` })
      ).status,
    ).toBe(200);
  });
});
