// The API under seeded hostile traffic (issue "Hardening", Done-when): ≥ 10,000 requests over
// every kind and verb, the agent, token, log, eviction and discovery routes and the bare paths, as
// every role, with hostile paths, queries, headers, content types, encodings and bodies (see
// testing/fuzz-requests.ts), many at once over keep-alive connections of a real socket. Not one
// answer may be a 5xx, every error must be a Kubernetes Status, Object.prototype must stay clean
// and the server must still serve afterwards.
//
// Reproduce: EIAAS_FUZZ_SEED=<seed> (printed on failure); EIAAS_FUZZ_ONLY=<i> sends request i
// alone; EIAAS_FUZZ_REQUESTS, EIAAS_FUZZ_CONCURRENCY change the run; EIAAS_LOG_LEVEL=error shows
// the server's own account of a 500.
import http from "node:http";
import request from "supertest";
import { afterAll, beforeAll, expect, it } from "vitest";
import { API_PREFIX, KINDS, type KindName } from "@eiaas/api";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";
import { fuzzRequest, leaves, sampleObject, sampleStatus, type FuzzRequest, type FuzzWorld } from "./testing/fuzz-requests.js";
import { requestRng } from "./testing/fuzz-values.js";

const SEED = Number(process.env.EIAAS_FUZZ_SEED ?? 20261127);
const REQUESTS = Number(process.env.EIAAS_FUZZ_REQUESTS ?? 10_000);
const CONCURRENCY = Number(process.env.EIAAS_FUZZ_CONCURRENCY ?? 16);
const ONLY = process.env.EIAAS_FUZZ_ONLY === undefined ? undefined : Number(process.env.EIAAS_FUZZ_ONLY);
const MAX_BODY_BYTES = 64 * 1024;

let api: TestApi;
let world: FuzzWorld;
let port: number;
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

beforeAll(async () => {
  // No rate limit: the fuzz is about answers, and 429s would hide them.
  api = await startTestApi({ rateLimit: { qps: 1e9, burst: 1e9 }, maxBodyBytes: MAX_BODY_BYTES });
  port = Number(new URL(await api.listen()).port);
  const node = "edge-1";
  const seeded: Record<KindName, string> = { EdgeNode: node, Tenant: "acme", Model: "m", ModelProfile: "m.edge-1", InferenceService: "svc", TrainingJob: "tj", Task: "task-1", Event: "ev" };
  for (const tenant of ["acme", "other"]) {
    await request(api.app)
      .post(`${API_PREFIX}/tenants`)
      .set(bearer(api.adminToken))
      .send(
        sampleObject(
          KINDS.find((k) => k.kind === "Tenant")!,
          tenant,
          { node },
        ),
      )
      .expect(201);
  }
  for (const kind of KINDS) {
    if (kind.kind === "Tenant") continue;
    const collection = kind.namespaced ? `${API_PREFIX}/namespaces/acme/${kind.plural}` : `${API_PREFIX}/${kind.plural}`;
    await request(api.app)
      .post(collection)
      .set(bearer(api.adminToken))
      .send(sampleObject(kind, seeded[kind.kind], { node }))
      .expect(201);
  }
  const objects = {} as FuzzWorld["objects"];
  for (const kind of KINDS) {
    const path = kind.namespaced ? `${API_PREFIX}/namespaces/acme/${kind.plural}/${seeded[kind.kind]}` : `${API_PREFIX}/${kind.plural}/${seeded[kind.kind]}`;
    objects[kind.kind] = (await request(api.app).get(path).set(bearer(api.adminToken)).expect(200)).body;
  }
  world = {
    tokens: {
      admin: api.adminToken,
      tenant: await api.tenantToken("acme"),
      otherTenant: await api.tenantToken("other"),
      agent: (await api.tokens.mint({ role: "agent", nodeName: node })).token,
      bootstrap: (await api.tokens.mint({ role: "bootstrap" })).token,
    },
    namespace: "acme",
    otherNamespace: "other",
    node,
    seeded,
    objects,
    maxBodyBytes: MAX_BODY_BYTES,
  };
}, 120_000);
afterAll(() => api?.close());

interface Answer {
  status: number;
  body: string;
}

function send(agent: http.Agent, req: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Node's client sends a GET's or DELETE's body without a Content-Length: always give one.
    const headers = req.body ? { ...req.headers, "Content-Length": String(req.body.length) } : req.headers;
    const r = http.request({ host: "127.0.0.1", port, method: req.method, path: req.path, headers, agent });
    r.setTimeout(30_000, () => r.destroy(new Error("no answer within 30 s")));
    r.on("error", reject);
    r.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", () => undefined);
      const done = () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
      if (req.stream && res.statusCode === 200) {
        // A live stream: its head is the answer; hang up soon after.
        setTimeout(() => {
          res.destroy();
          done();
        }, 50);
        return;
      }
      res.on("end", done);
    });
    r.end(req.body);
  });
}

/** What is wrong with an answer, if anything. */
function problemOf(req: FuzzRequest, a: Answer): string | undefined {
  if (a.status >= 500) return `answered ${a.status}`;
  if (a.status < 400 || req.method === "HEAD") return undefined;
  let status: { kind?: unknown; code?: unknown };
  try {
    status = JSON.parse(a.body);
  } catch {
    return `answered ${a.status} without a JSON body`;
  }
  if (status.kind !== "Status" || status.code !== a.status) return `answered ${a.status} with something other than its Status`;
  return undefined;
}

function describeRequest(i: number, req: FuzzRequest, outcome: string): string {
  const body = req.body ? ` body(${req.body.length} B)=${JSON.stringify(req.body.subarray(0, 160).toString("latin1"))}` : "";
  const headers = Object.entries(req.headers)
    .filter(([k]) => k !== "Authorization")
    .map(([k, v]) => `${k}: ${v.slice(0, 80)}`)
    .join("; ");
  return `#${i} ${req.method} ${req.path.slice(0, 200)} [${req.headers.Authorization?.slice(0, 12) ?? "no token"}…; ${headers}]${body} → ${outcome}`;
}

it(`answers ${REQUESTS} hostile requests without a 5xx, each error a Status, and lives on`, async () => {
  const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const indices = ONLY !== undefined ? [ONLY] : Array.from({ length: REQUESTS }, (_, i) => i);
  const failures: string[] = [];
  const codes = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < indices.length) {
      const i = indices[next++]!;
      const req = fuzzRequest(requestRng(SEED, i), world);
      try {
        const answer = await send(agent, req);
        codes.set(answer.status, (codes.get(answer.status) ?? 0) + 1);
        const problem = problemOf(req, answer);
        if (problem) failures.push(describeRequest(i, req, `${problem}: ${answer.body.slice(0, 300)}`));
      } catch (err) {
        failures.push(describeRequest(i, req, `no answer: ${(err as Error).message}`));
      }
    }
  };
  await Promise.all(Array.from({ length: ONLY !== undefined ? 1 : CONCURRENCY }, worker));
  agent.destroy();

  const summary = [...codes]
    .sort(([a], [b]) => a - b)
    .map(([c, n]) => `${c}×${n}`)
    .join(" ");
  const context = `fuzz seed ${SEED} (EIAAS_FUZZ_SEED=${SEED}; EIAAS_FUZZ_ONLY=<i> for one request); answers: ${summary}`;
  expect(failures.slice(0, 15), `${context}\n${failures.length} bad answers, first ones:\n${failures.slice(0, 15).join("\n")}`).toEqual([]);
  // Nothing reached a prototype, and the server still serves, its metrics included.
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  await request(api.app).get("/metrics").expect(200);
  await request(api.app).get(`${API_PREFIX}/namespaces/acme/models/m`).set(bearer(world.tokens.tenant)).expect(200);
  await request(api.app).get("/livez").expect(200);
  // The run reached the handlers, not only the authenticator.
  if (ONLY === undefined)
    expect(
      [...codes].filter(([c]) => c < 300).reduce((n, [, k]) => n + k, 0),
      context,
    ).toBeGreaterThan(REQUESTS / 20);
}, 300_000);

/** Values at the edges of what each JSON type may hold, that the schemas may let through. */
// The long string does not compress (Postgres keeps no index entry over ~2.7 kB).
const EDGE_STRINGS = ['""', '"99999999999999999999999"', JSON.stringify(Array.from({ length: 4000 }, (_, i) => requestRng(SEED, i).int(36).toString(36)).join(""))];
const EDGE_NUMBERS = ["-1", "2147483648", "1e308"];
/** Concurrent creates share a group commit: the sweep is mostly writes. */
const SWEEP_CONCURRENCY = 32;

/** `obj` as JSON with the member `key` of `parent` (inside obj) set to the raw JSON `raw`. */
function withLeaf(obj: unknown, parent: Record<string, unknown>, key: string, raw: string): string {
  const old = parent[key];
  parent[key] = "@@EDGE@@";
  const text = JSON.stringify(obj).replace('"@@EDGE@@"', raw);
  parent[key] = old;
  return text;
}

it("answers every field of every kind, and of its status, set to an edge value without a 5xx", async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: SWEEP_CONCURRENCY });
  const requests: FuzzRequest[] = [];
  const headers = { Authorization: `Bearer ${world.tokens.admin}`, "Content-Type": "application/json" };
  for (const kind of KINDS) {
    const collection = kind.namespaced ? `${API_PREFIX}/namespaces/acme/${kind.plural}` : `${API_PREFIX}/${kind.plural}`;
    const { uid: _u, resourceVersion: _r, creationTimestamp: _c, ...metadata } = world.objects[kind.kind].metadata;
    const object = { ...world.objects[kind.kind], metadata, status: {} };
    const status = { apiVersion: world.objects[kind.kind].apiVersion, kind: kind.kind, metadata: { name: world.seeded[kind.kind] }, status: sampleStatus(kind) };
    const dryRuns = kind.kind === "InferenceService" || kind.kind === "TrainingJob" ? ["", "?dryRun=All"] : [""];
    for (const [parent, key] of leaves(object)) {
      const values = typeof parent[key] === "number" ? EDGE_NUMBERS : typeof parent[key] === "string" ? EDGE_STRINGS : [];
      for (const raw of values) {
        object.metadata.name = `edge-${requests.length}`;
        for (const dry of dryRuns) requests.push({ method: "POST", path: `${collection}${dry}`, headers, body: Buffer.from(withLeaf(object, parent, key, raw)), stream: false });
      }
    }
    if (!kind.hasStatus) continue;
    for (const [parent, key] of leaves(status.status)) {
      const values = typeof parent[key] === "number" ? EDGE_NUMBERS : typeof parent[key] === "string" ? EDGE_STRINGS : [];
      for (const raw of values)
        requests.push({ method: "PUT", path: `${collection}/${world.seeded[kind.kind]}/status`, headers, body: Buffer.from(withLeaf(status, parent, key, raw)), stream: false });
    }
  }
  const failures: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: SWEEP_CONCURRENCY }, async () => {
      while (next < requests.length) {
        const i = next++;
        const req = requests[i]!;
        const answer = await send(agent, { ...req, headers: { ...req.headers, "Content-Length": String(req.body!.length) } });
        const problem = problemOf(req, answer);
        if (problem) failures.push(describeRequest(i, req, `${problem}: ${answer.body.slice(0, 300)}`));
      }
    }),
  );
  agent.destroy();
  expect(failures.slice(0, 15), `${requests.length} requests, ${failures.length} bad answers:\n${failures.slice(0, 15).join("\n")}`).toEqual([]);
}, 300_000);
