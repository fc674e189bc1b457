// Conformance: server dry runs answer the stored status (issue 18 item 9) — kubectl v1.32's diff
// as a child process and @kubernetes/client-node in-process against the API server on Postgres.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { startKubeClients, type KubeClients } from "@eiaas/testing/kube-clients";

let k: KubeClients;
let manifest: string;
const STATUS = {
  phase: "Running",
  observedGeneration: 1,
  conditions: [{ type: "Ready", status: "True", reason: "Running", message: "all tasks running", lastTransitionTime: "2026-12-01T00:00:00Z" }],
};
const isvc = (labels = "") => `apiVersion: eiaas.io/v1alpha1
kind: InferenceService
metadata:
  name: cam
  namespace: acme${labels}
spec:
  model: resnet18
  clients: {selector: {matchLabels: {tier: device}}}
  slo: {latencyMs: 100}
`;
const SVC = `${API_PREFIX}/namespaces/acme/inferenceservices/cam`;

beforeAll(async () => {
  k = await startKubeClients();
  await k.tenant("acme");
  manifest = await k.file("cam.yaml", isvc());
  expect((await k.kubectl(["apply", "-f", manifest])).code).toBe(0);
  // The controllers' status, as the scheduler would have written it.
  await request(k.api.app)
    .put(`${SVC}/status`)
    .set({ Authorization: `Bearer ${k.api.adminToken}` })
    .send({ metadata: { name: "cam" }, status: STATUS })
    .expect(200);
}, 60_000);
afterAll(() => k.close());

describe("server dry run (item 9)", () => {
  it("kubectl diff of a label-only change shows the label and no status churn", async () => {
    const r = await k.kubectl(["diff", "-f", await k.file("cam-labelled.yaml", isvc("\n  labels: {team: vision}"))]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1); // kubectl diff: 1 when there are differences
    const changed = r.stdout.split("\n").filter((l) => /^[+-] /.test(l) || /^[+-]\s/.test(l));
    expect(changed.some((l) => l.includes("team: vision"))).toBe(true);
    expect(changed.filter((l) => !/team: vision|labels:|generation|last-applied|^[+-]\s*\{/.test(l))).toEqual([]);
    expect(r.stdout).not.toMatch(/^[+-].*(phase|Scheduled|conditions)/m);
  });

  it("client-node's dry-run patch answers the stored status unchanged, and stores nothing", async () => {
    const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
    const target = { group: "eiaas.io", version: "v1alpha1", namespace: "acme", plural: "inferenceservices", name: "cam" };
    const dry = (await custom.patchNamespacedCustomObject(
      { ...target, body: { metadata: { labels: { team: "vision" } }, spec: { slo: { latencyMs: 90 } } }, dryRun: "All" },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    )) as { metadata: { labels: Record<string, string> }; spec: { slo: { latencyMs: number } }; status: unknown };
    expect(dry.metadata.labels).toEqual({ team: "vision" });
    expect(dry.spec.slo.latencyMs).toBe(90);
    expect(dry.status).toEqual(STATUS);
    const stored = (await custom.getNamespacedCustomObject(target)) as { metadata: Record<string, unknown>; spec: { slo: { latencyMs: number } } };
    expect(stored.metadata).not.toHaveProperty("labels");
    expect(stored.spec.slo.latencyMs).toBe(100);
  });

  it("the plan preview stays available where asked for (planPreview=true, as eictl asks)", async () => {
    const body = {
      apiVersion: "eiaas.io/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "cam", namespace: "acme" },
      spec: { model: "resnet18", clients: { selector: { matchLabels: { tier: "device" } } }, slo: { latencyMs: 80 } },
    };
    const current = (
      await request(k.api.app)
        .get(SVC)
        .set({ Authorization: `Bearer ${k.api.adminToken}` })
        .expect(200)
    ).body;
    const put = (q: string) =>
      request(k.api.app)
        .put(`${SVC}?dryRun=All${q}`)
        .set({ Authorization: `Bearer ${k.api.adminToken}` })
        .send({ ...body, metadata: { ...body.metadata, resourceVersion: current.metadata.resourceVersion } })
        .expect(200);
    expect((await put("")).body.status).toEqual(STATUS);
    const planned = (await put("&planPreview=true")).body.status;
    expect(planned).not.toEqual(STATUS);
    expect(planned.phase).toBeDefined();
  });
});
