// Conformance: `kubectl get … -o yaml | kubectl apply -f -` (a `v1 List`, issue 18 item 3) with
// kubectl v1.32 as a child process against the API server on Postgres, without --validate=false.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
  for (const n of ["cam1", "cam2"]) expect((await k.kubectl(["apply", "-f", await k.file(`${n}.yaml`, isvc(n))])).stderr).toBe("");
}, 60_000);
afterAll(() => k.close());

describe("applying a List (item 3)", () => {
  it("kubectl get -o yaml | kubectl apply -f - applies every item (validation on, no --validate=false)", async () => {
    const list = await k.kubectl(["get", "isvc", "-n", "acme", "-o", "yaml"]);
    expect(list.stdout).toMatch(/^apiVersion: v1\nitems:/);
    expect(list.stdout).toMatch(/^kind: List$/m);
    const same = await k.kubectl(["apply", "-f", "-"], { stdin: list.stdout });
    expect(same.stderr).toBe("");
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/inferenceservice\.eiaas\.io\/cam1 (unchanged|configured)/);
    expect(same.stdout).toMatch(/inferenceservice\.eiaas\.io\/cam2 (unchanged|configured)/);
    // An edited copy applies its edit. (Read again: the copy carries each item's resourceVersion,
    // which the apply above moved on — an older copy is refused with a Conflict, as by Kubernetes.)
    const again = await k.kubectl(["get", "isvc", "-n", "acme", "-o", "yaml"]);
    const edited = again.stdout.replace(/latencyMs: 100/g, "latencyMs: 70");
    const r = await k.kubectl(["apply", "-f", "-"], { stdin: edited });
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("inferenceservice.eiaas.io/cam1 configured");
    const got = JSON.parse((await k.kubectl(["get", "isvc", "cam2", "-n", "acme", "-o", "json"])).stdout) as { spec: { slo: { latencyMs: number } } };
    expect(got.spec.slo.latencyMs).toBe(70);
  });

  it("an unknown field in an item is refused by the server (Strict), naming it; the item is not applied", async () => {
    const list = `apiVersion: v1
kind: List
items:
- ${isvc("cam1", 50).trimEnd().replace(/\n/g, "\n  ")}
    colour: blue
`;
    const r = await k.kubectl(["apply", "-f", "-"], { stdin: list });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/colour/);
    const got = JSON.parse((await k.kubectl(["get", "isvc", "cam1", "-n", "acme", "-o", "json"])).stdout) as { spec: { slo: { latencyMs: number } } };
    expect(got.spec.slo.latencyMs).toBe(70);
  });
});
