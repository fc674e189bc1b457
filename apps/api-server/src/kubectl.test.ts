// Stock kubectl (v1.32 on these machines) against the API over HTTPS, with no --validate=false.
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { writeKubeconfig } from "./kubeconfig.js";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";
import { ensureServingCertificate } from "./tls.js";

const run = promisify(execFile);
let api: TestApi;
let server: https.Server;
let dir: string;

async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run("kubectl", ["--kubeconfig", join(dir, "kubeconfig"), "--cache-dir", join(dir, "cache"), ...args], { timeout: 20_000 });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? "", stderr: e.stderr ?? "", code: typeof e.code === "number" ? e.code : 1 };
  }
}

beforeAll(async () => {
  api = await startTestApi();
  dir = await mkdtemp(join(tmpdir(), "eiaas-kubectl-"));
  const tls = await ensureServingCertificate({ dataDir: dir });
  server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, api.app);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await writeKubeconfig(join(dir, "kubeconfig"), { server: url, caPem: tls.caPem, token: api.adminToken, namespace: "acme" });
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set({ Authorization: `Bearer ${api.adminToken}` })
    .send({ apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await api.close();
});

const isvc = (latency: number) => `apiVersion: eiaas.io/v1alpha1
kind: InferenceService
metadata:
  name: cam
  namespace: acme
spec:
  model: resnet18
  clients:
    selector:
      matchLabels: {tier: device}
  slo: {latencyMs: ${latency}}
`;

describe("kubectl", () => {
  it("get, apply (created/unchanged/configured), get -o yaml, explain, delete", async () => {
    await writeFile(join(dir, "node.yaml"), "apiVersion: eiaas.io/v1alpha1\nkind: EdgeNode\nmetadata: {name: edge-1}\nspec: {tier: edge, capacity: {cpu: 8000, memoryMiB: 16384}}\n");
    expect((await kubectl("apply", "-f", join(dir, "node.yaml"))).stdout).toContain("edgenode.eiaas.io/edge-1 created");
    const nodes = await kubectl("get", "edgenodes");
    expect(nodes.stdout).toMatch(/NAME\s+TIER\s+READY\s+CPU\s+AGE/);
    expect(nodes.stdout).toMatch(/edge-1\s+edge\s+Unknown\s+0\/8000m/);

    await writeFile(join(dir, "isvc.yaml"), isvc(100));
    expect((await kubectl("apply", "-f", join(dir, "isvc.yaml"))).stdout).toContain("inferenceservice.eiaas.io/cam created");
    expect((await kubectl("apply", "-f", join(dir, "isvc.yaml"))).stdout).toContain("inferenceservice.eiaas.io/cam unchanged");
    await writeFile(join(dir, "isvc.yaml"), isvc(80));
    expect((await kubectl("apply", "-f", join(dir, "isvc.yaml"))).stdout).toContain("inferenceservice.eiaas.io/cam configured");

    const yaml = await kubectl("get", "isvc", "-n", "acme", "-o", "yaml");
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toContain("latencyMs: 80");
    expect(yaml.stdout).toContain("generation: 2");
    expect((await kubectl("get", "isvc", "-n", "acme")).stdout).toMatch(/NAME\s+MODEL\s+PHASE\s+LATENCY\s+AGE/);

    const explain = await kubectl("explain", "inferenceservice.spec");
    expect(explain.code).toBe(0);
    expect(explain.stdout).toMatch(/clients\s+<Object> -required-/);

    expect((await kubectl("delete", "-f", join(dir, "isvc.yaml"))).stdout).toContain('inferenceservice.eiaas.io "cam" deleted');
    expect((await kubectl("get", "isvc", "cam", "-n", "acme")).stderr).toContain("NotFound");
  });

  it("rejects unknown fields through validation with the field path", async () => {
    await writeFile(join(dir, "bad.yaml"), isvc(50).replace("  model: resnet18", "  model: resnet18\n  colour: blue"));
    const r = await kubectl("apply", "-f", join(dir, "bad.yaml"));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/colour/);
  });

  it("get -w sees changes as table rows", async () => {
    await writeFile(join(dir, "isvc.yaml"), isvc(120));
    await kubectl("apply", "-f", join(dir, "isvc.yaml"));
    const watching = kubectl("get", "isvc", "-n", "acme", "-w", "--request-timeout=4s");
    await new Promise((r) => setTimeout(r, 1500));
    await kubectl("label", "isvc", "cam", "-n", "acme", "watched=yes");
    const out = await watching;
    const rows = out.stdout.split("\n").filter((l) => l.startsWith("cam "));
    expect(rows.length).toBeGreaterThanOrEqual(2);
  });
});
