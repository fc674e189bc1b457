import http from "node:http";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { advancingClock } from "@eiaas/testing";
import { TOKEN_CACHE_MS } from "./http/auth.js";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

let api: TestApi;
// Token verification's clock: expiry and the verification cache's age jump when a test moves it.
const clock = advancingClock();
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const tenant = (name: string) => ({ apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name }, spec: {} });
const model = (name: string) => ({
  apiVersion: "eiaas.io/v1alpha1",
  kind: "Model",
  metadata: { name },
  spec: { inputBytes: 1000, accuracy: 0.5, layers: [{ name: "l1", flops: 1, outputBytes: 10 }] },
});
const isvc = (name: string) => ({
  apiVersion: "eiaas.io/v1alpha1",
  kind: "InferenceService",
  metadata: { name },
  spec: { model: "m", clients: { selector: { matchLabels: { tier: "device" } } } },
});

beforeAll(async () => {
  api = await startTestApi({ bookmarkIntervalMs: 200, now: clock.now });
  for (const t of ["red", "blue"]) await request(api.app).post(`${API_PREFIX}/tenants`).set(admin()).send(tenant(t)).expect(201);
});
afterAll(() => api.close());

describe("authentication and authorization", () => {
  it("401 without or with a wrong token", async () => {
    const none = await request(api.app).get(`${API_PREFIX}/edgenodes`).expect(401);
    expect(none.body).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });
    await request(api.app).get(`${API_PREFIX}/edgenodes`).set(bearer("not-a-token")).expect(401);
  });

  it("a tenant sees its own namespace; another tenant's objects answer 404", async () => {
    const red = await api.tenantToken("red");
    await request(api.app).post(`${API_PREFIX}/namespaces/red/models`).set(bearer(red)).send(model("mine")).expect(201);
    await request(api.app).post(`${API_PREFIX}/namespaces/blue/models`).set(admin()).send(model("theirs")).expect(201);
    const cross = await request(api.app).get(`${API_PREFIX}/namespaces/blue/models/theirs`).set(bearer(red)).expect(404);
    expect(cross.body.reason).toBe("NotFound");
    await request(api.app).get(`${API_PREFIX}/namespaces/blue/models`).set(bearer(red)).expect(404);
    await request(api.app).delete(`${API_PREFIX}/namespaces/blue/models/theirs`).set(bearer(red)).expect(404);
    // The all-namespaces list narrows to the tenant's own namespace.
    const all = await request(api.app).get(`${API_PREFIX}/models`).set(bearer(red)).expect(200);
    expect(all.body.items.map((o: any) => o.metadata.namespace)).toEqual(["red"]);
    // Its own Tenant is visible, the other is not.
    await request(api.app).get(`${API_PREFIX}/tenants/red`).set(bearer(red)).expect(200);
    await request(api.app).get(`${API_PREFIX}/tenants/blue`).set(bearer(red)).expect(404);
  });

  it("a tenant cannot write cluster-scoped kinds, tasks or status: 403", async () => {
    const red = await api.tenantToken("red");
    const res = await request(api.app)
      .post(`${API_PREFIX}/edgenodes`)
      .set(bearer(red))
      .send({ apiVersion: "eiaas.io/v1alpha1", kind: "EdgeNode", metadata: { name: "n1" }, spec: { tier: "edge" } })
      .expect(403);
    expect(res.body).toMatchObject({ kind: "Status", reason: "Forbidden", code: 403 });
    await request(api.app).post(`${API_PREFIX}/tenants`).set(bearer(red)).send(tenant("evil")).expect(403);
    await request(api.app)
      .post(`${API_PREFIX}/namespaces/red/tasks`)
      .set(bearer(red))
      .send({ apiVersion: "eiaas.io/v1alpha1", kind: "Task", metadata: { name: "t" }, spec: { role: "serve" } })
      .expect(403);
    // Reading the fleet is allowed.
    await request(api.app).get(`${API_PREFIX}/edgenodes`).set(bearer(red)).expect(200);
  });

  it("tokens: minted once, listed without secrets, revoked → 401", async () => {
    const minted = await request(api.app)
      .post(`${API_PREFIX}/tenants/red/tokens`)
      .set(admin())
      .send({ metadata: { name: "ci" } })
      .expect(201);
    expect(minted.body).toMatchObject({ apiVersion: "eiaas.io/v1alpha1", kind: "Token", metadata: { name: "ci" } });
    expect(minted.body.token.length).toBeGreaterThanOrEqual(43);
    await request(api.app).get(`${API_PREFIX}/namespaces/red/models`).set(bearer(minted.body.token)).expect(200);
    const list = await request(api.app).get(`${API_PREFIX}/tenants/red/tokens`).set(admin()).expect(200);
    expect(list.body.items.map((t: any) => t.metadata.name)).toContain("ci");
    expect(JSON.stringify(list.body)).not.toContain(minted.body.token);
    await request(api.app).delete(`${API_PREFIX}/tenants/red/tokens/ci`).set(admin()).expect(200);
    await request(api.app).get(`${API_PREFIX}/namespaces/red/models`).set(bearer(minted.body.token)).expect(401);
    await request(api.app).post(`${API_PREFIX}/tenants/ghost/tokens`).set(admin()).send({}).expect(404);
    const red = await api.tenantToken("red");
    await request(api.app).post(`${API_PREFIX}/tenants/red/tokens`).set(bearer(red)).send({}).expect(403);
    const boot = await request(api.app).post(`${API_PREFIX}/bootstraptokens`).set(admin()).send().expect(201);
    expect(boot.body.metadata.name).toMatch(/^bootstrap-/);
  });

  it("expired tokens are refused", async () => {
    const minted = await request(api.app)
      .post(`${API_PREFIX}/tenants/red/tokens`)
      .set(admin())
      .send({ expiresAt: new Date(clock.now() + 60_000).toISOString() })
      .expect(201);
    await request(api.app).get(`${API_PREFIX}/namespaces/red/models`).set(bearer(minted.body.token)).expect(200);
    // Past its expiry, and past the verification cache that still held it valid.
    clock.advance(60_000 + TOKEN_CACHE_MS);
    await request(api.app).get(`${API_PREFIX}/namespaces/red/models`).set(bearer(minted.body.token)).expect(401);
  });
});

describe("bad input gets a Status, never a 500", () => {
  it("unknown fields and bad names → 422 Invalid with field causes", async () => {
    const bad = { ...model("Bad_Name"), spec: { ...model("x").spec, colour: "blue", layers: [{ name: "l1", flops: -1, outputBytes: 1 }] } };
    const res = await request(api.app).post(`${API_PREFIX}/namespaces/red/models`).set(admin()).send(bad).expect(422);
    expect(res.body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422 });
    const fields = res.body.details.causes.map((c: any) => c.field);
    expect(fields).toEqual(expect.arrayContaining(["metadata.name", "spec.colour", "spec.layers[0].flops"]));
    // Operator classes that add up to more than the layer's flops, or a negative class, or a speed of 0 on a node.
    const classes = {
      ...model("classes"),
      spec: {
        ...model("x").spec,
        layers: [
          { name: "l1", flops: 100, flopsByOperator: { matmul: 80, depthwise: 30 }, outputBytes: 1 },
          { name: "l2", flops: 100, flopsByOperator: { pointwise: -1 }, outputBytes: 1 },
          { name: "l3", flops: 100, elementOps: { lrn: -5, softmax: 1 }, outputBytes: 1 },
        ],
      },
    };
    const refused = await request(api.app).post(`${API_PREFIX}/namespaces/red/models`).set(admin()).send(classes).expect(422);
    expect(refused.body.details.causes.map((c: any) => c.field)).toEqual(
      expect.arrayContaining(["spec.layers[0].flopsByOperator", "spec.layers[1].flopsByOperator.pointwise", "spec.layers[2].elementOps.lrn", "spec.layers[2].elementOps.softmax"]),
    );
    const missing = await request(api.app)
      .post(`${API_PREFIX}/namespaces/red/inferenceservices`)
      .set(admin())
      .send({ ...isvc("s"), spec: { clients: { selector: {} } } })
      .expect(422);
    expect(missing.body.details.causes).toContainEqual(expect.objectContaining({ field: "spec.model" }));
  });

  it("malformed JSON → 400; wrong content type → 415; oversize body → 413", async () => {
    const res = await request(api.app).post(`${API_PREFIX}/namespaces/red/models`).set(admin()).set("Content-Type", "application/json").send('{"apiVersion": ').expect(400);
    expect(res.body).toMatchObject({ kind: "Status", reason: "BadRequest" });
    await request(api.app).post(`${API_PREFIX}/namespaces/red/models`).set(admin()).set("Content-Type", "text/plain").send("hello").expect(415);
    const huge = { ...model("huge"), metadata: { name: "huge", annotations: { blob: "x".repeat(2 * 1024 * 1024) } } };
    const big = await request(api.app).post(`${API_PREFIX}/namespaces/red/models`).set(admin()).send(huge).expect(413);
    expect(big.body).toMatchObject({ kind: "Status", reason: "RequestEntityTooLarge", code: 413 });
  });

  it("bad query parameters → 400; unknown resources → 404; namespace mismatch → 400", async () => {
    await request(api.app).get(`${API_PREFIX}/namespaces/red/models`).query({ labelSelector: "a in (b" }).set(admin()).expect(400);
    await request(api.app).get(`${API_PREFIX}/namespaces/red/models`).query({ limit: "-3" }).set(admin()).expect(400);
    await request(api.app).get(`${API_PREFIX}/namespaces/red/models`).query({ fieldSelector: "spec.colour=red" }).set(admin()).expect(400);
    await request(api.app).get(`${API_PREFIX}/namespaces/red/widgets`).set(admin()).expect(404);
    await request(api.app)
      .post(`${API_PREFIX}/namespaces/red/models`)
      .set(admin())
      .send({ ...model("m2"), metadata: { name: "m2", namespace: "blue" } })
      .expect(400);
    await request(api.app).post(`${API_PREFIX}/namespaces/nowhere/models`).set(admin()).send(model("m3")).expect(404);
  });

  it("rate limit per token → 429 with Retry-After", async () => {
    const limited = await startTestApi({ rateLimit: { qps: 1, burst: 3 } });
    try {
      await request(limited.app)
        .post(`${API_PREFIX}/tenants`)
        .set({ Authorization: `Bearer ${limited.adminToken}` })
        .send(tenant("red"))
        .expect(201);
      const t = await limited.tenantToken("red");
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) codes.push((await request(limited.app).get(`${API_PREFIX}/namespaces/red/models`).set(bearer(t))).status);
      expect(codes.slice(0, 3)).toEqual([200, 200, 200]);
      const res = await request(limited.app).get(`${API_PREFIX}/namespaces/red/models`).set(bearer(t)).expect(429);
      expect(res.headers["retry-after"]).toMatch(/^\d+$/);
      expect(res.body).toMatchObject({ kind: "Status", reason: "TooManyRequests", code: 429 });
      // Admin tokens are exempt by default.
      for (let i = 0; i < 6; i++)
        await request(limited.app)
          .get(`${API_PREFIX}/edgenodes`)
          .set({ Authorization: `Bearer ${limited.adminToken}` })
          .expect(200);
    } finally {
      await limited.close();
    }
  });
});

describe("writes that change nothing", () => {
  it("are not written: same resourceVersion, no watch event (replace, merge patch, status)", async () => {
    const path = `${API_PREFIX}/namespaces/red/models/same`;
    const created = (await request(api.app).post(`${API_PREFIX}/namespaces/red/models`).set(admin()).send(model("same")).expect(201)).body;
    const rv = created.metadata.resourceVersion;
    const replaced = (
      await request(api.app)
        .put(path)
        .set(admin())
        .send({ ...created, metadata: { ...created.metadata } })
        .expect(200)
    ).body;
    expect(replaced.metadata.resourceVersion).toBe(rv);
    const patched = (
      await request(api.app)
        .patch(path)
        .set(admin())
        .set("Content-Type", "application/merge-patch+json")
        .send({ spec: { accuracy: 0.5 } })
        .expect(200)
    ).body;
    expect(patched.metadata.resourceVersion).toBe(rv);
    // A replace pinned to an old version still conflicts, changed or not.
    await request(api.app)
      .put(path)
      .set(admin())
      .send({ ...created, metadata: { ...created.metadata, resourceVersion: "1" } })
      .expect(409);
    const events = (await api.feed.backlog(0n, "Model", 1n << 62n)).filter((e) => e.name === "same");
    expect(events.map((e) => e.type)).toEqual(["ADDED"]);
    // A real change is written.
    const changed = (
      await request(api.app)
        .patch(path)
        .set(admin())
        .set("Content-Type", "application/merge-patch+json")
        .send({ spec: { accuracy: 0.6 } })
        .expect(200)
    ).body;
    expect(BigInt(changed.metadata.resourceVersion)).toBeGreaterThan(BigInt(rv));
  });
});

describe("deletion", () => {
  it("deleting a workload cascades to the tasks it owns", async () => {
    const svc = (await request(api.app).post(`${API_PREFIX}/namespaces/red/inferenceservices`).set(admin()).send(isvc("svc")).expect(201)).body;
    const owner = [{ apiVersion: "eiaas.io/v1alpha1", kind: "InferenceService", name: "svc", uid: svc.metadata.uid, controller: true }];
    for (const n of ["svc-1", "svc-2"]) {
      await request(api.app)
        .post(`${API_PREFIX}/namespaces/red/tasks`)
        .set(admin())
        .send({ apiVersion: "eiaas.io/v1alpha1", kind: "Task", metadata: { name: n, ownerReferences: owner }, spec: { role: "serve", nodeName: "e1" } })
        .expect(201);
    }
    await request(api.app)
      .post(`${API_PREFIX}/namespaces/red/tasks`)
      .set(admin())
      .send({ apiVersion: "eiaas.io/v1alpha1", kind: "Task", metadata: { name: "loose" }, spec: { role: "serve" } })
      .expect(201);
    await request(api.app).delete(`${API_PREFIX}/namespaces/red/inferenceservices/svc`).set(admin()).expect(200);
    const left = await request(api.app).get(`${API_PREFIX}/namespaces/red/tasks`).set(admin()).expect(200);
    expect(left.body.items.map((t: any) => t.metadata.name)).toEqual(["loose"]);
  });

  it("deleting a Tenant keeps it Terminating until its namespace is empty, then removes it", async () => {
    await request(api.app).post(`${API_PREFIX}/tenants`).set(admin()).send(tenant("doomed")).expect(201);
    await request(api.app).post(`${API_PREFIX}/namespaces/doomed/models`).set(admin()).send(model("m")).expect(201);
    const t = await api.tenantToken("doomed");
    const res = await request(api.app).delete(`${API_PREFIX}/tenants/doomed`).set(admin()).expect(200);
    expect(res.body.metadata.deletionTimestamp).toBeTruthy();
    expect(res.body.metadata.finalizers).toContain("eiaas.io/namespace");
    await expect.poll(async () => (await request(api.app).get(`${API_PREFIX}/tenants/doomed`).set(admin())).status, { timeout: 10_000 }).toBe(404);
    await request(api.app).get(`${API_PREFIX}/namespaces/doomed/models/m`).set(admin()).expect(404);
    await request(api.app).post(`${API_PREFIX}/namespaces/doomed/models`).set(admin()).send(model("late")).expect(404);
    clock.advance(TOKEN_CACHE_MS + 100);
    await request(api.app).get(`${API_PREFIX}/tenants/doomed`).set(bearer(t)).expect(401);
  });
});

/** Reads newline-delimited watch events from a real socket until `count` arrived. */
function watch(base: string, path: string, count: number): Promise<{ events: any[]; status: number; body?: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { headers: admin() }, (res) => {
      let buf = "";
      const events: any[] = [];
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (!line.trim()) continue;
          if (res.statusCode !== 200) continue;
          events.push(JSON.parse(line));
          if (events.length >= count) {
            req.destroy();
            resolve({ events, status: 200 });
          }
        }
      });
      res.on("end", () => resolve({ events, status: res.statusCode ?? 0, ...(buf ? { body: JSON.parse(buf) } : {}) }));
    });
    req.on("error", (err) => (err.message.includes("socket hang up") ? undefined : reject(err)));
    setTimeout(() => {
      req.destroy();
      reject(new Error(`watch timed out waiting for ${count} events`));
    }, 10_000);
  });
}

describe("watch", () => {
  it("streams ADDED/MODIFIED/DELETED and resumes after a reconnect without losing or repeating events", async () => {
    const base = await api.listen();
    const coll = `${API_PREFIX}/namespaces/blue/models`;
    const start = (await request(api.app).get(coll).set(admin()).expect(200)).body.metadata.resourceVersion;
    const first = watch(base, `${coll}?watch=true&resourceVersion=${start}`, 2);
    await new Promise((r) => setTimeout(r, 200));
    await request(api.app).post(coll).set(admin()).send(model("w1")).expect(201);
    await request(api.app)
      .patch(`${coll}/w1`)
      .set(admin())
      .set("Content-Type", "application/merge-patch+json")
      .send(JSON.stringify({ metadata: { labels: { a: "b" } } }))
      .expect(200);
    const got = await first;
    expect(got.events.map((e) => `${e.type}:${e.object.metadata.name}`)).toEqual(["ADDED:w1", "MODIFIED:w1"]);
    const lastSeen = got.events[1].object.metadata.resourceVersion;

    // While disconnected: more changes, in another namespace too.
    await request(api.app).post(coll).set(admin()).send(model("w2")).expect(201);
    await request(api.app).post(`${API_PREFIX}/namespaces/red/models`).set(admin()).send(model("elsewhere")).expect(201);
    await request(api.app).delete(`${coll}/w1`).set(admin()).expect(200);
    const resumed = await watch(base, `${coll}?watch=1&resourceVersion=${lastSeen}`, 2);
    expect(resumed.events.map((e) => `${e.type}:${e.object.metadata.name}`)).toEqual(["ADDED:w2", "DELETED:w1"]);
  });

  it("without a resourceVersion starts with the current objects; label selectors filter; bookmarks arrive", async () => {
    const base = await api.listen();
    const coll = `${API_PREFIX}/namespaces/blue/models`;
    const res = await watch(base, `${coll}?watch=true&allowWatchBookmarks=true&labelSelector=${encodeURIComponent("!nothing")}`, 3);
    const types = res.events.map((e) => e.type);
    expect(types.filter((t) => t === "ADDED").length).toBeGreaterThanOrEqual(2);
    const withBookmark = await watch(base, `${coll}?watch=true&allowWatchBookmarks=true&labelSelector=none%3Dhere`, 1);
    expect(withBookmark.events[0]).toMatchObject({ type: "BOOKMARK", object: { kind: "Model", metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } } });
  });

  it("a resume point older than the log answers 410 Gone", async () => {
    const base = await api.listen();
    await api.feed.compact(new Date(Date.now() + 3_600_000));
    const res = await watch(base, `${API_PREFIX}/namespaces/blue/models?watch=true&resourceVersion=1`, 1);
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ kind: "Status", reason: "Gone", code: 410 });
  });
});
