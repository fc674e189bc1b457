// Conformance: the rows of docs/kubernetes-compatibility.md no area's own file drove — kubectl
// v1.32 as a child process and @kubernetes/client-node in-process against the API server on
// Postgres. Each test names its row.
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, Watch } from "@kubernetes/client-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { EventRecorder } from "@eiaas/db";
import { startKubeClients, type KubeClients } from "@eiaas/testing/kube-clients";

let k: KubeClients;
let acmeToken: string;
const EIAAS = { group: "eiaas.io", version: "v1alpha1" };

const isvc = (name: string, ns = "acme", labels = "") => `apiVersion: eiaas.io/v1alpha1
kind: InferenceService
metadata: {name: ${name}, namespace: ${ns}${labels}}
spec:
  model: resnet18
  clients: {selector: {matchLabels: {tier: device}}}
  slo: {latencyMs: 100}
`;

beforeAll(async () => {
  k = await startKubeClients();
  await k.tenant("acme");
  acmeToken = await k.api.tenantToken("acme");
  expect((await k.kubectl(["apply", "-f", await k.file("cam.yaml", isvc("cam"))])).code).toBe(0);
  await new EventRecorder(k.api.store, "eiaas-scheduler").record({ involved: { kind: "InferenceService", name: "cam", namespace: "acme" }, type: "Normal", reason: "Scheduled", message: "placed" });
}, 60_000);
afterAll(() => k.close());

describe("server basics", () => {
  it("kubectl get --raw /livez and /readyz answer ok, as /healthz", async () => {
    for (const path of ["/livez", "/readyz"]) expect(await k.kubectl(["get", "--raw", path])).toMatchObject({ code: 0, stdout: "ok" });
  });
});

describe("namespaces", () => {
  it("kubectl create ns and delete ns are refused (405), and nothing changes", async () => {
    const created = await k.kubectl(["create", "ns", "gamma"]);
    expect(created.code).toBe(1);
    expect(created.stderr).toMatch(/MethodNotAllowed|not allowed/i);
    const deleted = await k.kubectl(["delete", "ns", "acme", "--wait=false"]);
    expect(deleted.code).toBe(1);
    expect(deleted.stderr).toMatch(/MethodNotAllowed|not allowed/i);
    expect((await k.kubectl(["get", "ns", "-o", "name"])).stdout.trim()).toBe("namespace/acme");
  });

  it("kubectl get ns by field selector (metadata.name, status.phase), Terminating while a Tenant empties, and -w streams", async () => {
    await k.tenant("doomed");
    const held = `apiVersion: eiaas.io/v1alpha1
kind: Model
metadata: {name: m, namespace: doomed, finalizers: [test.eiaas.io/hold]}
spec:
  layers: [{name: l, flops: 1, outputBytes: 1, memoryMiB: 1}]
  inputBytes: 1
  accuracy: 0.9
`;
    expect((await k.kubectl(["apply", "-f", await k.file("held.yaml", held)])).stderr).toBe("");
    expect((await k.kubectl(["get", "ns", "--field-selector", "metadata.name=doomed", "-o", "name"])).stdout.trim()).toBe("namespace/doomed");
    expect((await k.kubectl(["delete", "tenant", "doomed", "--wait=false"])).code).toBe(0);
    const terminating = await k.kubectl(["get", "ns", "--field-selector", "status.phase=Terminating", "-o", "name"]);
    expect(terminating.stdout.trim()).toBe("namespace/doomed");
    expect((await k.kubectl(["get", "ns", "--field-selector", "status.phase=Active", "-o", "name"])).stdout.trim()).toBe("namespace/acme");
    expect((await k.kubectl(["get", "ns", "--field-selector", "spec.finalizers=x"])).code).toBe(1);

    // -w: the list as ADDED events, then the changes, for as long as it runs (it does not exit by itself).
    let listed = false;
    const watching = k.kubectlUntil(
      ["get", "ns", "-w", "--output-watch-events"],
      (out) => {
        listed ||= /ADDED\s+doomed\s+Terminating/.test(out);
        return /DELETED\s+doomed/.test(out);
      },
      { timeoutMs: 120_000 },
    );
    // kubectl's start (discovery, then the list) takes seconds on a loaded machine.
    for (let i = 0; i < 600 && !listed; i++) await new Promise((r) => setTimeout(r, 100));
    expect(listed).toBe(true);
    // The hold lifted, the Tenant finishes emptying and its namespace goes: the watch shows it.
    await k.kubectl(["patch", "model", "m", "-n", "doomed", "--type=merge", "-p", '{"metadata":{"finalizers":[]}}']);
    const seen = await watching;
    expect(seen.stderr).toBe("");
    expect(seen.stdout).toMatch(/ADDED\s+acme\s+Active/);
    expect(seen.stdout).toMatch(/DELETED\s+doomed\s+Terminating/);
    expect((await k.kubectl(["get", "ns", "-o", "name"])).stdout.trim()).toBe("namespace/acme");
  }, 150_000); // a dozen kubectl runs, on a shared machine
});

describe("core v1 Events", () => {
  it("creating or deleting core v1 Events is refused (405); a tenant writes them in neither group", async () => {
    const admin = (await k.kubeConfig()).makeApiClient(CoreV1Api);
    const body = { metadata: { name: "e1", namespace: "acme" }, involvedObject: { kind: "InferenceService", name: "cam", namespace: "acme" }, reason: "X", message: "m" };
    await expect(admin.createNamespacedEvent({ namespace: "acme", body })).rejects.toMatchObject({ code: 405 });
    const name = (await admin.listNamespacedEvent({ namespace: "acme" })).items[0]!.metadata!.name!;
    await expect(admin.deleteNamespacedEvent({ namespace: "acme", name })).rejects.toMatchObject({ code: 405 });
    expect((await admin.readNamespacedEvent({ namespace: "acme", name })).reason).toBe("Scheduled");
    const tenant = (await k.kubeConfig(acmeToken)).makeApiClient(CustomObjectsApi);
    await expect(tenant.createNamespacedCustomObject({ ...EIAAS, namespace: "acme", plural: "events", body: { apiVersion: "eiaas.io/v1alpha1", kind: "Event", ...body } })).rejects.toMatchObject({
      code: 403,
    });
    await expect(tenant.deleteNamespacedCustomObject({ ...EIAAS, namespace: "acme", plural: "events", name })).rejects.toMatchObject({ code: 403 });
  });

  it("client-node accepts every documented field selector on Events", async () => {
    const core = (await k.kubeConfig(acmeToken)).makeApiClient(CoreV1Api);
    for (const f of [
      "involvedObject.kind",
      "involvedObject.namespace",
      "involvedObject.name",
      "involvedObject.uid",
      "involvedObject.apiVersion",
      "involvedObject.resourceVersion",
      "involvedObject.fieldPath",
      "reason",
      "type",
      "source",
      "reportingComponent",
    ]) {
      expect((await core.listNamespacedEvent({ namespace: "acme", fieldSelector: `${f}!=nothing-has-this` })).items.length, f).toBeGreaterThan(0);
    }
    expect((await core.listNamespacedEvent({ namespace: "acme", fieldSelector: "reportingComponent=nothing-has-this" })).items).toEqual([]);
  });

  it("watch-list works on core Events (the initial-events-end bookmark)", async () => {
    const seen: Array<{ type: string; obj: any }> = [];
    const watch = new Watch(await k.kubeConfig(acmeToken));
    const req = await watch.watch(
      "/api/v1/namespaces/acme/events",
      { sendInitialEvents: true, resourceVersionMatch: "NotOlderThan", allowWatchBookmarks: true },
      (type, obj) => seen.push({ type, obj }),
      () => undefined,
    );
    for (let i = 0; i < 100 && !seen.some((e) => e.type === "BOOKMARK"); i++) await new Promise((r) => setTimeout(r, 50));
    req.abort();
    expect(seen.map((e) => `${e.type} ${e.obj.kind}`)).toEqual(["ADDED Event", "BOOKMARK Event"]);
    expect(seen[1]!.obj.metadata.annotations).toEqual({ "k8s.io/initial-events-end": "true" });
  });
});

describe("dry run", () => {
  it("kubectl apply --dry-run=server answers the change and stores nothing", async () => {
    const before = (await k.kubectl(["get", "isvc", "cam", "-o", "jsonpath={.metadata.resourceVersion}"])).stdout;
    const r = await k.kubectl(["apply", "--dry-run=server", "-f", await k.file("cam-dry.yaml", isvc("cam", "acme", ", labels: {team: dry}"))]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("inferenceservice.eiaas.io/cam configured (server dry run)");
    expect((await k.kubectl(["get", "isvc", "cam", "-o", "jsonpath={.metadata.resourceVersion} {.metadata.labels}"])).stdout).toBe(`${before} `);
  });
});

describe("writes", () => {
  it("the /status subresource is Strict whatever fieldValidation says (an unknown field is 422 naming it)", async () => {
    const as = { Authorization: `Bearer ${k.api.adminToken}` };
    const url = `${API_PREFIX}/namespaces/acme/inferenceservices/cam/status`;
    for (const q of ["", "?fieldValidation=Ignore", "?fieldValidation=Warn"]) {
      const r = await request(k.api.app)
        .patch(`${url}${q}`)
        .set({ ...as, "Content-Type": "application/merge-patch+json" })
        .send({ status: { colour: "blue" } });
      expect(r.status, q).toBe(422);
      expect(JSON.stringify(r.body.details.causes)).toContain("colour");
    }
  });

  it("server-side apply takes application/apply-patch+json too; managedFields [{}] in a write clears them", async () => {
    const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
    const body = {
      apiVersion: "eiaas.io/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "js", namespace: "acme" },
      spec: { model: "resnet18", clients: { selector: { matchLabels: { tier: "device" } } }, slo: { latencyMs: 100 } },
    };
    const r = await request(k.api.app)
      .patch(`${API_PREFIX}/namespaces/acme/inferenceservices/js?fieldManager=jsonist`)
      .set({ Authorization: `Bearer ${k.api.adminToken}`, "Content-Type": "application/apply-patch+json" })
      .send(JSON.stringify(body));
    expect(r.status).toBe(201);
    expect(r.body.metadata.managedFields.map((m: { manager: string; operation: string }) => `${m.manager} ${m.operation}`)).toEqual(["jsonist Apply"]);
    const patched = await k.kubectl(["patch", "isvc", "js", "--type=merge", "-p", '{"metadata":{"managedFields":[{}]}}']);
    expect(patched.stderr).toBe("");
    const o = (await custom.getNamespacedCustomObject({ ...EIAAS, namespace: "acme", plural: "inferenceservices", name: "js" })) as { metadata: { managedFields?: unknown[] } };
    expect(o.metadata.managedFields).toBeUndefined();
  });
});

describe("who am I, what may I do", () => {
  it("kubectl auth can-i --list names the core namespaces and events, read-only", async () => {
    const list = await k.kubectl(["auth", "can-i", "--list", "-n", "acme"], { token: acmeToken });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^namespaces\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    expect(list.stdout).toMatch(/^events\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
  });
});

describe("not served", () => {
  it("server-side apply of /status is 415; SubjectAccessReview and TokenReview are 404", async () => {
    const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
    await expect(
      custom.patchNamespacedCustomObjectStatus(
        {
          ...EIAAS,
          namespace: "acme",
          plural: "inferenceservices",
          name: "cam",
          body: { apiVersion: "eiaas.io/v1alpha1", kind: "InferenceService", metadata: { name: "cam" }, status: { phase: "Failed" } },
          fieldManager: "x",
        },
        setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
      ),
    ).rejects.toMatchObject({ code: 415 });
    const as = { Authorization: `Bearer ${k.api.adminToken}` };
    expect(
      (
        await request(k.api.app)
          .post("/apis/authorization.k8s.io/v1/subjectaccessreviews")
          .set(as)
          .send({ spec: { user: "x" } })
      ).status,
    ).toBe(404);
    expect(
      (
        await request(k.api.app)
          .post("/apis/authentication.k8s.io/v1/tokenreviews")
          .set(as)
          .send({ spec: { token: "x" } })
      ).status,
    ).toBe(404);
    expect((await request(k.api.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices/cam`).set(as)).body.status?.phase).not.toBe("Failed");
  });
});
