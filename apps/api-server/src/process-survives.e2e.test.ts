// The issue's report, end to end: the API server as its own process (`node --import tsx
// apps/api-server/src/main.ts`), a tenant's and an agent's JSON and merge patches through
// `__proto__` (the attack that polluted Object.prototype, after which the next request's telemetry
// threw outside any handler and the process exited). The process must live, keep serving, and
// /metrics must still answer.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { API_PREFIX, API_VERSION } from "@eiaas/api";
import { createTestDatabase, type TestDatabase } from "@eiaas/testing";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const ADMIN = "admin-token-for-the-survival-test";
const BOOTSTRAP = "bootstrap-token-for-the-survival-test";

let db: TestDatabase;
let dataDir: string;
let child: ChildProcess;
let url: string;
let ca: string;
const output: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), "eiaas-survive-"));
  child = spawn(process.execPath, ["--import", "tsx", "apps/api-server/src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      EIAAS_PORT: "0",
      EIAAS_HOST: "127.0.0.1",
      EIAAS_DATA_DIR: dataDir,
      EIAAS_ADMIN_TOKEN: ADMIN,
      EIAAS_BOOTSTRAP_TOKEN: BOOTSTRAP,
      EIAAS_LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr!.on("data", (d) => output.push(String(d)));
  url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the API server exited (${code}) before listening:\n${output.join("")}`)));
    child.stdout!.on("data", (d) => {
      output.push(String(d));
      const m = /"url":"(https:\/\/127\.0\.0\.1:\d+)".*API server listening/.exec(output.join(""));
      if (m) resolve(m[1]!);
    });
  });
  ca = await readFile(join(dataDir, "pki", "ca.crt"), "utf8");
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  await db?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function call(method: string, path: string, token: string | undefined, body?: unknown, type = "application/json"): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = https.request(`${url}${path}`, {
      method,
      ca,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(data !== undefined ? { "Content-Type": type, "Content-Length": Buffer.byteLength(data) } : {}) },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.end(data);
  });
}

const alive = () => child.exitCode === null && child.signalCode === null;

it("lives through a tenant's and an agent's patches through __proto__, and keeps serving (/metrics too)", async () => {
  const created = (r: { status: number; text: string }) => expect(r.status, r.text).toBe(201);
  created(await call("POST", `${API_PREFIX}/tenants`, ADMIN, { apiVersion: API_VERSION, kind: "Tenant", metadata: { name: "acme" } }));
  created(
    await call("POST", `${API_PREFIX}/namespaces/acme/models`, ADMIN, {
      apiVersion: API_VERSION,
      kind: "Model",
      metadata: { name: "m" },
      spec: { inputBytes: 1000, accuracy: 0.7, layers: [{ name: "l1", flops: 1e9, outputBytes: 1000 }] },
    }),
  );
  const svc = `${API_PREFIX}/namespaces/acme/inferenceservices/svc`;
  created(
    await call("POST", `${API_PREFIX}/namespaces/acme/inferenceservices`, ADMIN, {
      apiVersion: API_VERSION,
      kind: "InferenceService",
      metadata: { name: "svc" },
      spec: { model: "m", clients: { selector: { matchLabels: { tier: "device" } } } },
    }),
  );
  const minted = await call("POST", `${API_PREFIX}/tenants/acme/tokens`, ADMIN, {});
  created(minted);
  const tenant = JSON.parse(minted.text).token as string;
  const registered = await call("POST", `${API_PREFIX}/edgenodes/edge-1/register`, BOOTSTRAP, { tier: "edge", capacity: { cpu: 4000, memoryMiB: 8192 } });
  created(registered);
  const agent = JSON.parse(registered.text).token as string;

  const JSON_PATCH = "application/json-patch+json";
  const MERGE = "application/merge-patch+json";
  const attacks: Array<[string, string, string, string]> = [
    [tenant, svc, JSON_PATCH, JSON.stringify([{ op: "add", path: "/__proto__/polluted", value: "yes" }])],
    [tenant, `${svc}?dryRun=All`, JSON_PATCH, JSON.stringify([{ op: "add", path: "/__proto__/polluted", value: "yes" }])],
    [tenant, svc, JSON_PATCH, JSON.stringify([{ op: "add", path: "/constructor/prototype/polluted", value: "yes" }])],
    [tenant, svc, MERGE, '{"__proto__":{"polluted":"yes"}}'],
    [tenant, `${svc}?dryRun=All`, MERGE, '{"metadata":{"__proto__":{"polluted":"yes"}}}'],
    [agent, `${API_PREFIX}/edgenodes/edge-1/status`, JSON_PATCH, JSON.stringify([{ op: "add", path: "/status/__proto__/x", value: "yes" }])],
    [agent, `${API_PREFIX}/edgenodes/edge-1/status`, MERGE, '{"status":{"__proto__":{"polluted":"yes"}}}'],
  ];
  for (const [token, path, type, body] of attacks) {
    const res = await call("PATCH", path, token, body, type);
    // The request after it is the one whose telemetry met the polluted prototype, and threw.
    const next = await call("GET", svc, tenant).catch((err: Error) => ({ status: 0, text: err.message }));
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(), `the API server exited after PATCH ${path} ${body}:\n${output.join("").slice(-1500)}`).toBe(true);
    expect(next.status, next.text).toBe(200);
    expect(next.text).not.toContain("polluted");
    expect(res.status, `${path} ${body}: ${res.text}`).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ kind: "Status", code: 400 });
  }
  const metrics = await call("GET", "/metrics", undefined);
  expect(metrics.status, metrics.text).toBe(200);
  expect(metrics.text).toContain("eiaas_api_request_duration_seconds");
  expect((await call("GET", "/livez", undefined)).status).toBe(200);
  expect(alive()).toBe(true);
}, 120_000);
