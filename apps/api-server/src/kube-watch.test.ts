// Conformance: watch-list and resourceVersionMatch (issue 18 item 8) — kubectl v1.32 (its reflector
// in watch-list mode) as a child process and @kubernetes/client-node in-process against the API
// server on Postgres.
import { Watch } from "@kubernetes/client-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { startKubeClients, type KubeClients } from "@eiaas/testing/kube-clients";

let k: KubeClients;
const isvc = (name: string, latency = 100) => `apiVersion: eiaas.io/v1alpha1
kind: InferenceService
metadata: {name: ${name}, namespace: acme}
spec:
  model: resnet18
  clients: {selector: {matchLabels: {tier: device}}}
  slo: {latencyMs: ${latency}}
`;

beforeAll(async () => {
  k = await startKubeClients();
  await k.tenant("acme");
  for (const n of ["cam-a", "cam-b"]) expect((await k.kubectl(["apply", "-f", await k.file(`${n}.yaml`, isvc(n))])).code).toBe(0);
}, 60_000);
afterAll(() => k.close());

const WATCH_LIST = { sendInitialEvents: true, resourceVersionMatch: "NotOlderThan", allowWatchBookmarks: true };

/** Runs a client-node watch until `until` holds for what it saw. */
async function watchUntil(path: string, query: Record<string, string | number | boolean>, until: (seen: any[]) => boolean, during?: () => Promise<void>): Promise<any[]> {
  const seen: any[] = [];
  const watch = new Watch(await k.kubeConfig());
  let failed: unknown;
  const req = await watch.watch(
    path,
    query,
    (type, obj) => seen.push({ type, obj }),
    (err) => (failed = err),
  );
  await during?.();
  for (let i = 0; i < 100 && !until(seen) && !failed; i++) await new Promise((r) => setTimeout(r, 50));
  req.abort();
  return seen;
}

describe("watch-list (item 8)", () => {
  it("kubectl's reflector in watch-list mode syncs and kubectl wait returns", async () => {
    const r = await k.kubectl(["wait", "--for=jsonpath={.spec.slo.latencyMs}=100", "isvc/cam-a", "--timeout=10s"], { env: { KUBE_FEATURE_WatchListClient: "true" }, timeoutMs: 30_000 });
    expect(r.stderr).toBe("");
    expect(r).toMatchObject({ code: 0, stdout: "inferenceservice.eiaas.io/cam-a condition met\n" });
  });

  it("client-node: the current objects as ADDED, the initial-events-end bookmark at the list's version, then changes", async () => {
    const seen = await watchUntil(
      `${API_PREFIX}/namespaces/acme/inferenceservices`,
      { ...WATCH_LIST, resourceVersion: "1" },
      (s) => s.some((e) => e.type === "MODIFIED"),
      async () => {
        await new Promise((r) => setTimeout(r, 300));
        await k.kubectl(["label", "isvc", "cam-b", "seen=yes"]);
      },
    );
    expect(seen.map((e) => `${e.type} ${e.obj.metadata.name ?? ""}`)).toEqual(["ADDED cam-a", "ADDED cam-b", "BOOKMARK ", "MODIFIED cam-b"]);
    const end = seen[2].obj;
    expect(end.metadata.annotations).toEqual({ "k8s.io/initial-events-end": "true" });
    expect(BigInt(end.metadata.resourceVersion)).toBeGreaterThanOrEqual(BigInt(seen[1].obj.metadata.resourceVersion));
    expect(BigInt(seen[3].obj.metadata.resourceVersion)).toBeGreaterThan(BigInt(end.metadata.resourceVersion));
  });

  it("works on the core group too (namespaces)", async () => {
    const seen = await watchUntil("/api/v1/namespaces", WATCH_LIST, (s) => s.some((e) => e.type === "BOOKMARK"));
    expect(seen.map((e) => `${e.type} ${e.obj.kind}`)).toEqual(["ADDED Namespace", "BOOKMARK Namespace"]);
    expect(seen[1].obj.metadata.annotations).toEqual({ "k8s.io/initial-events-end": "true" });
  });

  it("without allowWatchBookmarks, or without NotOlderThan, a watch-list is 422 naming the field", async () => {
    const ask = (q: string) =>
      request(k.api.app)
        .get(`${API_PREFIX}/namespaces/acme/inferenceservices?watch=true&${q}`)
        .set({ Authorization: `Bearer ${k.api.adminToken}` });
    const noBookmarks = await ask("sendInitialEvents=true&resourceVersionMatch=NotOlderThan");
    expect(noBookmarks.status).toBe(422);
    expect(noBookmarks.body.details.causes[0]).toMatchObject({ field: "allowWatchBookmarks" });
    const noMatch = await ask("sendInitialEvents=true&allowWatchBookmarks=true");
    expect(noMatch.status).toBe(422);
    expect(noMatch.body.details.causes[0]).toMatchObject({ field: "resourceVersionMatch" });
    expect((await ask("sendInitialEvents=maybe&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")).status).toBe(422);
  });
});

describe("resourceVersionMatch (item 8)", () => {
  const list = (q: string) =>
    request(k.api.app)
      .get(`${API_PREFIX}/namespaces/acme/inferenceservices?${q}`)
      .set({ Authorization: `Bearer ${k.api.adminToken}` });
  it("NotOlderThan is honoured (the current state); Exact is refused with 422, on lists and watches", async () => {
    const current = await list("resourceVersion=1&resourceVersionMatch=NotOlderThan").expect(200);
    expect(current.body.items).toHaveLength(2);
    const exact = await list(`resourceVersion=${current.body.metadata.resourceVersion}&resourceVersionMatch=Exact`);
    expect(exact.status).toBe(422);
    expect(exact.body.details.causes[0]).toMatchObject({ field: "resourceVersionMatch" });
    expect(exact.body.message).toContain("Exact");
    expect((await list("resourceVersionMatch=Latest")).status).toBe(422);
    expect((await list("watch=true&resourceVersion=1&resourceVersionMatch=Exact")).status).toBe(422);
    expect((await list("sendInitialEvents=true&resourceVersionMatch=NotOlderThan")).status).toBe(422);
    expect(
      (
        await request(k.api.app)
          .get("/api/v1/namespaces?resourceVersionMatch=Exact&resourceVersion=1")
          .set({ Authorization: `Bearer ${k.api.adminToken}` })
      ).status,
    ).toBe(422);
  });
});
