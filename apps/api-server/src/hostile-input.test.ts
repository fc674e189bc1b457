// Hostile input from tenants and agents (issue "Hardening"): patches through prototypes never
// reach one, and the inputs that answered 500 answer a 4xx Status, on every entry path (the routed
// API, the cached GET and status PUT fast paths, lists and watches).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { brotliCompressSync, gzipSync } from "node:zlib";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION } from "@eiaas/api";
import { traceRequest } from "./http/telemetry.js";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

let api: TestApi;
let tenant: string;
let agent: string;
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const SVC = `${API_PREFIX}/namespaces/acme/inferenceservices/svc`;
const MODELS = `${API_PREFIX}/namespaces/acme/models`;
const NODE = `${API_PREFIX}/edgenodes/edge-1`;
const TASK = `${API_PREFIX}/namespaces/acme/tasks/t1`;
const MERGE = "application/merge-patch+json";
const JSON_PATCH = "application/json-patch+json";
const model = (name: string) => ({ apiVersion: API_VERSION, kind: "Model", metadata: { name }, spec: { inputBytes: 1000, accuracy: 0.7, layers: [{ name: "l1", flops: 1e9, outputBytes: 1000 }] } });

beforeAll(async () => {
  api = await startTestApi();
  const admin = bearer(api.adminToken);
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set(admin)
    .send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
  await request(api.app).post(MODELS).set(admin).send(model("m")).expect(201);
  await request(api.app)
    .post(`${API_PREFIX}/namespaces/acme/inferenceservices`)
    .set(admin)
    .send({ apiVersion: API_VERSION, kind: "InferenceService", metadata: { name: "svc" }, spec: { model: "m", clients: { selector: { matchLabels: { tier: "device" } } } } })
    .expect(201);
  await request(api.app)
    .post(`${API_PREFIX}/edgenodes`)
    .set(admin)
    .send({ apiVersion: API_VERSION, kind: "EdgeNode", metadata: { name: "edge-1" }, spec: { tier: "edge", capacity: { cpu: 4000, memoryMiB: 8192 } } })
    .expect(201);
  await request(api.app)
    .post(`${API_PREFIX}/namespaces/acme/tasks`)
    .set(admin)
    .send({ apiVersion: API_VERSION, kind: "Task", metadata: { name: "t1" }, spec: { role: "serve", nodeName: "edge-1" } })
    .expect(201);
  tenant = await api.tenantToken("acme");
  agent = (await api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token;
});
afterAll(() => api.close());

const patch = (path: string, token: string, type: string, body: string) => request(api.app).patch(path).set(bearer(token)).set("Content-Type", type).send(body);

/** The answer is a 4xx Kubernetes Status with its own code. */
function expectStatus(res: request.Response, code?: number): void {
  if (code !== undefined) expect(res.status, res.text).toBe(code);
  expect(res.status, res.text).toBeGreaterThanOrEqual(400);
  expect(res.status, res.text).toBeLessThan(500);
  expect(res.body).toMatchObject({ kind: "Status", status: "Failure", code: res.status });
}

const PROTOTYPE_POINTERS = [
  "/__proto__/polluted",
  "/__proto__",
  "/constructor/prototype/polluted",
  "/prototype/polluted",
  "/metadata/__proto__/polluted",
  "/metadata/labels/__proto__",
  "/spec/constructor/prototype/polluted",
  "/status/__proto__/polluted",
  "/status/constructor/prototype/polluted",
];
const PROTOTYPE_MERGES = [
  '{"__proto__":{"polluted":"yes"}}',
  '{"\\u005f_proto__":{"polluted":"yes"}}',
  '{"metadata":{"__proto__":{"polluted":"yes"}}}',
  '{"metadata":{"labels":{"__proto__":{"polluted":"yes"}}}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"spec":{"constructor":{"prototype":{"polluted":"yes"}}}}',
  '{"status":{"__proto__":{"polluted":"yes"}}}',
];

/** Every JSON patch op a prototype path can take, and every merge patch through one. */
function attacks(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const path of PROTOTYPE_POINTERS) {
    for (const op of ["add", "replace", "remove", "test"]) out.push([JSON_PATCH, JSON.stringify([{ op, path, value: { polluted: "yes" } }])]);
    out.push([JSON_PATCH, JSON.stringify([{ op: "copy", from: "/metadata", path }])]);
    // From a field every object has (an object without labels has no /metadata/labels).
    out.push([JSON_PATCH, JSON.stringify([{ op: "move", from: "/metadata/name", path }])]);
  }
  for (const body of PROTOTYPE_MERGES) out.push([MERGE, body]);
  return out;
}

async function expectNothingPolluted(prototypeBefore: string[]): Promise<void> {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
  // The metrics handler threw on a polluted prototype (and its telemetry hook ended the process).
  const metrics = await request(api.app).get("/metrics").expect(200);
  expect(metrics.text).toContain("eiaas_api_request_duration_seconds");
}

describe("patches through __proto__, constructor and prototype", () => {
  /**
   * Sends every attack to each path: `__proto__` is refused (400 naming it); `constructor` and
   * `prototype` are plain keys, refused where the schema has no such field (the status
   * subresource ignores what is outside .status); nothing is a 5xx and nothing changes.
   */
  async function attack(token: string, paths: string[], target: string): Promise<void> {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const original = (await request(api.app).get(target).set(bearer(token)).expect(200)).body;
    for (const [type, body] of attacks()) {
      for (const path of paths) {
        const res = await patch(path, token, type, body);
        const what = `PATCH ${path} ${type} ${body} → ${res.status} ${res.text}`;
        expect(res.status, what).toBeLessThan(500);
        if (res.status >= 400) expect(res.body, what).toMatchObject({ kind: "Status", code: res.status });
        if (/__proto__|u005f_proto__/.test(body)) {
          expect(res.status, what).toBe(400);
          expect(res.body.details?.causes?.[0]?.field, what).toMatch(/__proto__/);
        }
      }
    }
    await expectNothingPolluted(before);
    expect((await request(api.app).get(target).set(bearer(token)).expect(200)).body).toEqual(original);
  }

  it("never reach a prototype: a tenant's JSON and merge patches of its workload, with and without dryRun", async () => {
    await attack(tenant, [SVC, `${SVC}?dryRun=All`], SVC);
  });

  it("never reach a prototype: patches of a workload's status (an admin's: tenants may not write status)", async () => {
    await attack(api.adminToken, [`${SVC}/status`, `${SVC}/status?dryRun=All`], SVC);
  });

  it("never reach a prototype: an agent's patches of its own node's status", async () => {
    await attack(agent, [`${NODE}/status`, `${NODE}/status?dryRun=All`], NODE);
    // The agent still reports (the node was not damaged either).
    const ok = await patch(`${NODE}/status`, agent, MERGE, JSON.stringify({ status: { phase: "Ready" } })).expect(200);
    expect(ok.body.status.phase).toBe("Ready");
  });

  it("treats constructor, prototype and toString as plain keys (RFC 6902/7386 semantics for legitimate keys)", async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    let res = await patch(
      SVC,
      tenant,
      JSON_PATCH,
      JSON.stringify([
        { op: "add", path: "/metadata/labels", value: {} },
        { op: "add", path: "/metadata/labels/constructor", value: "c" },
      ]),
    ).expect(200);
    expect(res.body.metadata.labels).toEqual({ constructor: "c" });
    res = await patch(SVC, tenant, MERGE, JSON.stringify({ metadata: { labels: { prototype: "p", toString: "t" } } })).expect(200);
    expect(res.body.metadata.labels).toEqual({ constructor: "c", prototype: "p", toString: "t" });
    // Members an object does not hold are absent, even where a prototype has one.
    expectStatus(await patch(SVC, tenant, JSON_PATCH, JSON.stringify([{ op: "replace", path: "/metadata/annotations/toString", value: "x" }])), 400);
    expectStatus(await patch(SVC, tenant, JSON_PATCH, JSON.stringify([{ op: "remove", path: "/metadata/annotations/hasOwnProperty" }])), 400);
    res = await patch(
      SVC,
      tenant,
      JSON_PATCH,
      JSON.stringify([
        { op: "test", path: "/metadata/labels/constructor", value: "c" },
        { op: "remove", path: "/metadata/labels/constructor" },
      ]),
    ).expect(200);
    expect(res.body.metadata.labels).toEqual({ prototype: "p", toString: "t" });
    await patch(SVC, tenant, MERGE, JSON.stringify({ metadata: { labels: { prototype: null, toString: null } } })).expect(200);
    await expectNothingPolluted(before);
  });

  it("refuses __proto__ keys in every body, with the field's path", async () => {
    const created = await request(api.app)
      .post(MODELS)
      .set(bearer(tenant))
      .set("Content-Type", "application/json")
      .send('{"apiVersion":"eiaas.io/v1alpha1","kind":"Model","metadata":{"name":"p","labels":{"__proto__":{"a":"b"}}}}');
    expectStatus(created, 400);
    expect(created.body.details.causes[0].field).toBe("metadata.labels.__proto__");
    // The status PUT fast path reads its body on its own.
    const report = await request(api.app)
      .put(`${TASK}/status`)
      .set(bearer(agent))
      .set("Content-Type", "application/json")
      .send('{"metadata":{"name":"t1"},"status":{"\\u005f_proto__":{"phase":"Failed"}}}');
    expectStatus(report, 400);
    expect(report.body.details.causes[0].field).toBe("status.__proto__");
  });
});

describe("inputs that answered 500", () => {
  const deep = (n: number) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`;

  it("a merge patch (or any body) nested 10,000 deep: 400 naming where", async () => {
    const res = await patch(SVC, tenant, MERGE, `{"spec":${deep(10_000)}}`);
    expectStatus(res, 400);
    expect(res.body.details.causes[0].field).toMatch(/^spec(\.a)+$/);
    expectStatus(await patch(SVC, tenant, JSON_PATCH, `[{"op":"add","path":"/spec/x","value":${deep(10_000)}}]`), 400);
    expectStatus(
      await request(api.app)
        .post(MODELS)
        .set(bearer(tenant))
        .set("Content-Type", "application/json")
        .send(`[${"[".repeat(10_000)}${"]".repeat(10_000)}]`),
      400,
    );
    expectStatus(
      await request(api.app)
        .put(`${TASK}/status`)
        .set(bearer(agent))
        .set("Content-Type", "application/json")
        .send(`{"status":${deep(10_000)}}`),
      400,
    );
  });

  it("a path that is not valid percent-encoding: 400 on every entry path", async () => {
    for (const [method, path] of [
      ["get", `${MODELS}/%E0%A4%A`],
      ["get", `${API_PREFIX}/namespaces/%E0%A4%A/models`],
      ["get", `${API_PREFIX}/namespaces/%C3%28/models?watch=1`],
      ["put", `${API_PREFIX}/namespaces/acme/tasks/%ED%A0%80/status`],
      ["delete", `${MODELS}/%zz`],
    ] as const) {
      const res = await request(api.app)[method](path).set(bearer(api.adminToken)).set("Content-Type", "application/json").send("{}");
      expectStatus(res, 400);
      expect(res.body.message, path).toMatch(/percent-encoded/);
    }
  });

  it("limit past int64 and a watch from a resourceVersion past int64: 400; the largest int64 limit lists", async () => {
    expectStatus(await request(api.app).get(`${MODELS}?limit=100000000000000000000`).set(bearer(tenant)), 400);
    const all = await request(api.app).get(`${MODELS}?limit=9223372036854775807`).set(bearer(tenant)).expect(200);
    expect(all.body.items.map((m: { metadata: { name: string } }) => m.metadata.name)).toContain("m");
    expectStatus(await request(api.app).get(`${MODELS}?watch=1&resourceVersion=99999999999999999999999`).set(bearer(tenant)), 400);
    // A continue token is the client's too: one carrying NUL or a huge version is refused.
    for (const token of [
      { ns: "a\u0000", name: "b", rv: "1" },
      { ns: "a", name: "b", rv: "99999999999999999999999" },
    ]) {
      expectStatus(
        await request(api.app)
          .get(`${MODELS}?limit=1&continue=${Buffer.from(JSON.stringify(token)).toString("base64url")}`)
          .set(bearer(tenant)),
        400,
      );
    }
  });

  it("a truncated gzip or br body, an unknown encoding and a gzip bomb: 400, 415, 413", async () => {
    const body = Buffer.from(JSON.stringify({ metadata: { labels: { via: "gzip" } } }));
    const gz = gzipSync(body);
    const br = brotliCompressSync(Buffer.from(JSON.stringify({ metadata: { labels: { via: "br".repeat(50) } } })));
    // serialize: supertest would send a Buffer under a JSON media type as JSON.
    const send = (encoding: string, bytes: Buffer, path = SVC, type = MERGE) =>
      request(api.app)
        .patch(path)
        .set(bearer(tenant))
        .set("Content-Type", type)
        .set("Content-Encoding", encoding)
        .serialize((b: unknown) => b as string)
        .send(bytes);
    expectStatus(await send("gzip", gz.subarray(0, gz.length - 6)), 400);
    expectStatus(await send("br", br.subarray(0, br.length - 4)), 400);
    expectStatus(await send("deflate", Buffer.from("not deflate")), 400);
    expectStatus(await send("zstd", gz), 415);
    expectStatus(await send("gzip", gzipSync(Buffer.from(`{"a":"${"0".repeat(2 * 1024 * 1024)}"}`))), 413);
    // Whole ones still work.
    const ok = await send("gzip", gz).expect(200);
    expect(ok.body.metadata.labels.via).toBe("gzip");
  });

  it("U+0000 anywhere: in a body's strings and keys, in the path and in the query: 400", async () => {
    const admin = bearer(api.adminToken);
    const json = (path: string, body: string, method: "post" | "put" = "post") => request(api.app)[method](path).set(admin).set("Content-Type", "application/json").send(body);
    let res = await json(MODELS, JSON.stringify({ ...model("nul"), metadata: { name: "nul", annotations: { note: "a\u0000b" } } }));
    expectStatus(res, 400);
    expect(res.body.details.causes[0].field).toBe("metadata.annotations.note");
    expectStatus(await json(MODELS, JSON.stringify({ ...model("nul"), metadata: { name: "nul", annotations: { "k\u0000": "v" } } })), 400);
    expectStatus(await patch(SVC, tenant, MERGE, JSON.stringify({ metadata: { labels: { a: "\u0000" } } })), 400);
    expectStatus(await patch(SVC, tenant, JSON_PATCH, JSON.stringify([{ op: "add", path: "/metadata/annotations/a", value: "\u0000" }])), 400);
    res = await json(`${TASK}/status`, JSON.stringify({ metadata: { name: "t1" }, status: { phase: "Running", attempt: 1, message: "x\u0000" } }), "put");
    expectStatus(res, 400);
    expect(res.body.details.causes[0].field).toBe("status.message");
    // Unpaired surrogates cannot be stored in Postgres' JSON either.
    expectStatus(await json(MODELS, JSON.stringify({ ...model("sur"), metadata: { name: "sur", annotations: { note: "\ud800" } } })), 400);
    for (const path of [
      `${MODELS}/a%00b`,
      `${API_PREFIX}/namespaces/a%00b/models`,
      `${MODELS}?labelSelector=a%3Db%00`,
      `${MODELS}?watch=1&fieldSelector=metadata.name%3D%00`,
      `${API_PREFIX}/namespaces/acme/tasks/a%00/log`,
    ]) {
      expectStatus(await request(api.app).get(path).set(admin), 400);
    }
    expectStatus(await json(`${API_PREFIX}/namespaces/acme/tasks/t%001/status`, "{}", "put"), 400);
  });

  it("values the schema let through but Postgres could not store: 422", async () => {
    const admin = bearer(api.adminToken);
    const task = (name: string, extra: Record<string, unknown>) => ({ apiVersion: API_VERSION, kind: "Task", metadata: { name }, spec: { role: "serve", nodeName: "edge-1", ...extra } });
    expectStatus(
      await request(api.app)
        .post(`${API_PREFIX}/namespaces/acme/tasks`)
        .set(admin)
        .send(task("long", { nodeName: "n".repeat(3000) })),
      422,
    );
    expectStatus(
      await request(api.app)
        .put(`${TASK}/status`)
        .set(bearer(agent))
        .send({ metadata: { name: "t1" }, status: { phase: "Running", attempt: 2 ** 31 } }),
      422,
    );
    expectStatus(
      await request(api.app)
        .put(`${API_PREFIX}/namespaces/acme/tasks/t1/log`)
        .set(bearer(agent))
        .send({ attempt: 2 ** 31, lines: ["x"] }),
      422,
    );
    // An owner uid that is no uuid names no object: stored, not indexed.
    const owned = task("owned", {});
    (owned.metadata as Record<string, unknown>).ownerReferences = [{ apiVersion: API_VERSION, kind: "InferenceService", name: "svc", uid: "not-a-uuid", controller: true }];
    await request(api.app).post(`${API_PREFIX}/namespaces/acme/tasks`).set(admin).send(owned).expect(201);
    // resourceVersion preconditions go into a bigint comparison.
    const current = (await request(api.app).get(SVC).set(bearer(tenant)).expect(200)).body;
    expectStatus(
      await request(api.app)
        .put(SVC)
        .set(bearer(tenant))
        .send({ ...current, metadata: { ...current.metadata, resourceVersion: "99999999999999999999999" } }),
      422,
    );
    expectStatus(await patch(SVC, tenant, MERGE, JSON.stringify({ metadata: { resourceVersion: "12abc" } })), 422);
    expectStatus(
      await request(api.app)
        .put(`${TASK}/status`)
        .set(bearer(agent))
        .send({ metadata: { name: "t1", resourceVersion: 5 }, status: { phase: "Running" } }),
      422,
    );
    const del = await request(api.app)
      .delete(`${MODELS}/m`)
      .set(admin)
      .send({ preconditions: { resourceVersion: "abc" } });
    expectStatus(del, 422);
    expect(del.body.details.causes[0].field).toBe("preconditions.resourceVersion");
  });

  it("JSON patches that would grow without bound: 413", async () => {
    // Each copy of the whole object into a new place doubles it.
    const copies = Array.from({ length: 40 }, (_, i) => ({ op: "copy", from: "", path: `/spec/x${i}` }));
    expectStatus(await patch(SVC, tenant, JSON_PATCH, JSON.stringify(copies)), 413);
    const many = Array.from({ length: 10_001 }, () => ({ op: "test", path: "/kind", value: "InferenceService" }));
    expectStatus(await patch(SVC, tenant, JSON_PATCH, JSON.stringify(many)), 413);
  });
});

describe("query values past what the server can hold", () => {
  it("a watch asking for a timeout past a Node timer's range stays open (it ended at once: the timer overflowed)", async () => {
    const base = await api.listen();
    const start = (await request(api.app).get(MODELS).set(bearer(tenant)).expect(200)).body.metadata.resourceVersion;
    const events: string[] = [];
    let ended = false;
    const req = http.get(`${base}${MODELS}?watch=1&resourceVersion=${start}&timeoutSeconds=99999999999999999999`, { headers: bearer(tenant) });
    const streaming = new Promise<void>((resolve, reject) => {
      req.on("error", reject);
      req.on("response", (res) => {
        expect(res.statusCode).toBe(200);
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          for (const line of chunk.split("\n").filter(Boolean)) events.push(JSON.parse(line).object.metadata.name);
          if (events.includes("after")) resolve();
        });
        res.on("end", () => {
          ended = true;
          resolve();
        });
      });
    });
    // The watch is live once its headers are out; a create after that is its next event.
    await new Promise((r) => req.once("response", r));
    await request(api.app).post(MODELS).set(bearer(api.adminToken)).send(model("after")).expect(201);
    await streaming;
    req.destroy();
    expect({ ended, events }).toEqual({ ended: false, events: ["after"] });
  });
});

describe("no exception in a request ends the process", () => {
  it("a request's telemetry hook that throws is reported, not thrown out of the response's close event", async () => {
    const heard: unknown[] = [];
    const server = http.createServer((req, res) => {
      traceRequest(
        req,
        res,
        "/x",
        () => "GET",
        () => {
          throw new Error("route label failed");
        },
        (err) => heard.push(err),
      );
      res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as AddressInfo;
      await request(`http://127.0.0.1:${port}`).get("/x").expect(200);
      await new Promise((r) => setTimeout(r, 50));
      expect(heard.map((e) => (e as Error).message)).toEqual(["route label failed"]);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
