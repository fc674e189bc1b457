// The API under a Postgres outage: every kind of request path — routed verbs, cached GETs, status
// reports, watch starts, agent registration and heartbeats, token routes, subresources — answers a
// 503 ServiceUnavailable Status with Retry-After while the database is away (requests in flight as
// it stops included), never a 500, and all of them work again once it is back. The outage is
// logged as two lines (its start; its end with its duration and the requests refused), not one
// error per request. A private embedded PostgreSQL this file stops and starts; a real socket.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, kindInfo } from "@eiaas/api";
import { applyMigrations, ensureDatabase, freePort, startEmbeddedPostgres, type RunningPostgres } from "@eiaas/db";
import { createLogger } from "@eiaas/telemetry";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const V = "eiaas.io/v1alpha1";
const TASK = kindInfo("Task");
const EDGE = { tier: "edge", capacity: { cpu: 8000, memoryMiB: 16384, tasks: 4 }, compute: { gflops: 1000 } };
const MODEL = { apiVersion: V, kind: "Model", metadata: { name: "m" }, spec: { inputBytes: 1000, accuracy: 0.8, layers: [{ name: "l1", flops: 1e6, outputBytes: 100, memoryMiB: 1 }] } };

let dataDir: string;
let port: number;
let pg: RunningPostgres;
let api: TestApi;
let base: string;
const logLines: Array<Record<string, any>> = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

const startPostgres = () => startEmbeddedPostgres({ dataDir, port, persistent: true, ephemeral: true, maxConnections: 100 });

/** Secrets of each kind of caller, made before the outage. */
const tokens = { admin: "", tenant: "", tenantUnused: "", agent: "", bootstrap: "" };

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  dataDir = await mkdtemp(join(tmpdir(), "eiaas-api-pg-outage-"));
  port = await freePort();
  pg = await startPostgres();
  await ensureDatabase(pg.url("postgres"), "eiaas");
  await applyMigrations(pg.url("eiaas"));
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l.trim()) logLines.push(JSON.parse(l));
      cb();
    },
  });
  api = await startTestApi({
    database: { url: pg.url("eiaas"), reset: async () => undefined, drop: async () => undefined },
    logger: createLogger({ name: "api-server", level: "debug", destination }),
  });
  base = await api.listen();
  tokens.admin = api.adminToken;
  await call("POST", "/tenants", tokens.admin, { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } }, 201);
  await call("POST", "/namespaces/acme/models", tokens.admin, MODEL, 201);
  tokens.tenant = (await api.tokens.mint({ role: "tenant", tenant: "acme" })).token;
  // Never used before the outage: its first lookup needs Postgres (the token table, through Prisma).
  tokens.tenantUnused = (await api.tokens.mint({ role: "tenant", tenant: "acme" })).token;
  tokens.bootstrap = (await api.tokens.mint({ role: "bootstrap", maxUses: null })).token;
  const reg = await call("POST", "/edgenodes/edge-1/register", tokens.bootstrap, { spec: EDGE }, 201);
  tokens.agent = reg.body.token;
  await api.store.create(TASK, {
    apiVersion: V,
    metadata: { name: "t1", namespace: "acme" },
    spec: { nodeName: "edge-1", role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } },
    status: { phase: "Dispatched", attempt: 1 },
  } as any);
}, 120_000);

afterAll(async () => {
  await api?.close();
  await pg?.stop().catch(() => undefined);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  process.off("unhandledRejection", onUnhandled);
});

interface Answer {
  status: number;
  retryAfter: string | null;
  body: any;
}

/** One request over the socket; with `expect`, throws unless answered that code. */
async function call(method: string, path: string, token: string, body?: unknown, expectCode?: number, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(`${base}${path.startsWith("/") && !path.startsWith("/readyz") ? API_PREFIX : ""}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  // A watch that started streams for good: its head is the answer (cancelled here).
  const streaming = r.status === 200 && path.includes("watch=true");
  const text = streaming ? "" : await r.text();
  if (streaming) await r.body?.cancel();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // text/plain answers (logs) stay text
  }
  const answer = { status: r.status, retryAfter: r.headers.get("retry-after"), body: parsed };
  if (expectCode !== undefined && answer.status !== expectCode) throw new Error(`${method} ${path}: ${answer.status} ${text}`);
  return answer;
}

/** Fires every path once; throws with the list of those answered 5xx. */
async function expectNo5xx(): Promise<void> {
  const failed: string[] = [];
  for (const p of everyPath()) {
    const a = await p.run();
    if (a.status >= 500) failed.push(`${p.name}: ${a.status} ${JSON.stringify(a.body)}`);
  }
  expect(failed).toEqual([]);
}

let node = 0;
/** A request of every kind of path the API has, each with the caller it is for. */
function everyPath(): Array<{ name: string; run: () => Promise<Answer> }> {
  const t = tokens;
  const status = { apiVersion: V, kind: "Task", metadata: { name: "t1", namespace: "acme" }, status: { phase: "Running", attempt: 1 } };
  return [
    { name: "routed list", run: () => call("GET", "/namespaces/acme/models", t.admin) },
    { name: "routed list as a tenant", run: () => call("GET", "/namespaces/acme/models", t.tenant) },
    { name: "routed get (query string)", run: () => call("GET", "/namespaces/acme/models/m?pretty=true", t.tenant) },
    { name: "routed get (Table)", run: () => call("GET", "/namespaces/acme/models/m", t.admin, undefined, undefined, { Accept: "application/json;as=Table;v=v1;g=meta.k8s.io" }) },
    { name: "cluster-scoped list", run: () => call("GET", "/edgenodes", t.tenant) },
    { name: "create", run: () => call("POST", "/namespaces/acme/models", t.tenant, { ...MODEL, metadata: { name: `m-${node++}` } }) },
    { name: "replace", run: () => call("PUT", "/namespaces/acme/models/m", t.admin, MODEL) },
    { name: "merge patch", run: () => call("PATCH", "/namespaces/acme/models/m", t.tenant, { metadata: { labels: { a: "b" } } }, undefined, { "Content-Type": "application/merge-patch+json" }) },
    { name: "delete", run: () => call("DELETE", "/namespaces/acme/models/gone", t.tenant) },
    { name: "cached get (admin)", run: () => call("GET", "/namespaces/acme/models/m", t.admin) },
    { name: "cached get (tenant)", run: () => call("GET", "/namespaces/acme/models/m", t.tenant) },
    { name: "cached get (agent, its node)", run: () => call("GET", "/edgenodes/edge-1", t.agent) },
    { name: "cached get with a token never verified", run: () => call("GET", "/namespaces/acme/models/m", t.tenantUnused) },
    { name: "status PUT (agent)", run: () => call("PUT", "/namespaces/acme/tasks/t1/status", t.agent, status) },
    { name: "routed status PUT (dryRun)", run: () => call("PUT", "/namespaces/acme/tasks/t1/status?dryRun=All", t.agent, status) },
    { name: "watch start", run: () => call("GET", "/namespaces/acme/models?watch=true", t.tenant) },
    { name: "watch resume", run: () => call("GET", "/namespaces/acme/models?watch=true&resourceVersion=1", t.tenant) },
    { name: "agent register (bootstrap)", run: () => call("POST", `/edgenodes/new-${node++}/register`, t.bootstrap, { spec: EDGE }) },
    { name: "agent register (renewal)", run: () => call("POST", "/edgenodes/edge-1/register", t.agent, { spec: EDGE }) },
    { name: "agent heartbeat", run: () => call("POST", "/edgenodes/edge-1/heartbeat", t.agent, { runningTasks: ["acme/t1"] }) },
    { name: "task log write", run: () => call("PUT", "/namespaces/acme/tasks/t1/log", t.agent, { attempt: 1, lines: ["x"] }) },
    { name: "task log read", run: () => call("GET", "/namespaces/acme/tasks/t1/log", t.tenant) },
    { name: "eviction", run: () => call("POST", "/namespaces/acme/tasks/t1/eviction", t.admin, { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "t1", namespace: "acme" } }) },
    { name: "discovery", run: () => call("GET", "/namespaces/acme/discovery?capability=x&client=edge-1", t.tenant) },
    { name: "tenant token mint", run: () => call("POST", "/tenants/acme/tokens", t.admin, {}) },
    { name: "tenant token list", run: () => call("GET", "/tenants/acme/tokens", t.admin) },
    { name: "tenant token revoke", run: () => call("DELETE", "/tenants/acme/tokens/nope", t.admin) },
    { name: "bootstrap token mint", run: () => call("POST", "/bootstraptokens", t.admin, {}) },
    { name: "bootstrap token list", run: () => call("GET", "/bootstraptokens", t.admin) },
  ];
}

describe("Postgres stopped under the API", () => {
  it("answers 503 with Retry-After on every path, never 500, logs the outage twice, and serves again once it is back", async () => {
    // Before: every path answers (whatever its answer), none with a 5xx.
    await expectNo5xx();
    expect(logLines.filter((l) => l.level >= 40)).toEqual([]);

    // Requests keep coming while Postgres stops: those in flight at that moment must not be 500s.
    const during: Array<{ name: string; a: Answer }> = [];
    let firing = true;
    const burst = (async () => {
      while (firing) {
        await Promise.all(everyPath().map(async (p) => during.push({ name: p.name, a: await p.run() })));
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    await pg.stop();
    firing = false;
    await burst;
    expect(during.filter((d) => d.a.status >= 500 && d.a.status !== 503).map((d) => `${d.name}: ${d.a.status} ${JSON.stringify(d.a.body)}`)).toEqual([]);

    // Down: every path answers a 503 Status with Retry-After — past the 2 s verification cache
    // too, when every token lookup needs Postgres.
    const refused: string[] = [];
    for (let round = 0; round < 2; round++) {
      for (const p of everyPath()) {
        const a = await p.run();
        expect({ path: p.name, status: a.status, retryAfter: a.retryAfter, reason: a.body?.reason }).toEqual({ path: p.name, status: 503, retryAfter: "1", reason: "ServiceUnavailable" });
        expect(a.body).toMatchObject({ kind: "Status", status: "Failure", code: 503 });
        refused.push(p.name);
      }
      await new Promise((r) => setTimeout(r, 2_100));
    }

    pg = await startPostgres();
    // Back: every path answers again, none with a 5xx.
    await expect.poll(async () => (await call("GET", "/namespaces/acme/models", tokens.admin)).status, { timeout: 30_000, interval: 200 }).toBe(200);
    await expectNo5xx();

    // Logged: the outage's start and its end (with the requests it refused), each once; every
    // refused request only at debug; no error lines.
    await expect.poll(() => logLines.some((l) => l.msg === "database available again"), { timeout: 10_000 }).toBe(true);
    const warned = logLines.filter((l) => l.level >= 40);
    // An unexpected line names its error, so a failure says which error was not taken for the outage.
    expect(warned.map((l) => (l.msg === "request failed" ? `${l.msg}: ${String(l.err?.message ?? l.err?.type)}` : l.msg))).toEqual([
      "database unavailable: answering 503 with Retry-After until it is back",
      "database available again",
    ]);
    const end = warned[1]!;
    expect(end.durationMs).toBeGreaterThan(0);
    const answered503 = during.filter((d) => d.a.status === 503).length + refused.length;
    expect(end.refusedRequests).toBe(answered503);
    expect(logLines.filter((l) => l.msg === "request answered 503: database unavailable" && l.level === 20)).toHaveLength(answered503);
    expect(unhandled).toEqual([]);
  });
});
