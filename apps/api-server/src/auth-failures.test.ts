// Guessing tokens: failed authentications are limited per client address (429 with Retry-After
// past a burst, on every path: cached GET, routed requests, status reports), X-Forwarded-For is
// believed only from a configured proxy, a flood of bad tokens never pushes verified ones out of
// the cache, and a short EIAAS_ADMIN_TOKEN stops the server (and the demo) at start-up. Real API
// over real sockets, real Postgres.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION } from "@eiaas/api";
import { Authenticator } from "./http/auth.js";
import { RateLimiter } from "./http/rate-limit.js";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BURST = 5;

let direct: TestApi;
let proxied: TestApi;

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const guess = () => randomBytes(32).toString("base64url");

beforeAll(async () => {
  // A bucket that does not refill within the test: what is refused stays refused.
  const failedAuth = { qps: 0.001, burst: BURST };
  direct = await startTestApi({ rateLimit: { qps: 1000, burst: 1000, failedAuth } });
  proxied = await startTestApi({ rateLimit: { qps: 1000, burst: 1000, failedAuth, trustedProxies: new Set(["127.0.0.1"]) } });
  await request(direct.app)
    .post(`${API_PREFIX}/tenants`)
    .set(bearer(direct.adminToken))
    .send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
});
afterAll(async () => {
  await direct?.close();
  await proxied?.close();
});

describe("failed authentication", () => {
  it("answers 429 with Retry-After once a client's burst of bad tokens is spent, on every path; known tokens still pass", async () => {
    const tenantPath = `${API_PREFIX}/tenants/acme`;
    // Verified before the guessing starts.
    await request(direct.app).get(tenantPath).set(bearer(direct.adminToken)).expect(200);
    const tenant = await direct.tenantToken("acme");
    await request(direct.app).get(tenantPath).set(bearer(tenant)).expect(200);

    const first = guess();
    for (let i = 0; i < BURST; i++) {
      const res = await request(direct.app)
        .get(tenantPath)
        .set(bearer(i === 0 ? first : guess()))
        .expect(401);
      expect(res.body).toMatchObject({ kind: "Status", reason: "Unauthorized" });
    }
    // The cached GET, a routed list, a status report: each refuses a new guess without a lookup.
    const blocked = [
      request(direct.app).get(tenantPath),
      request(direct.app).get(`${API_PREFIX}/namespaces/acme/models`),
      request(direct.app).put(`${API_PREFIX}/namespaces/acme/tasks/t/status`).set("Content-Type", "application/json").send({}),
      request(direct.app).get(tenantPath).set("X-Forwarded-For", "203.0.113.9"),
    ];
    for (const req of blocked) {
      const res = await req.set(bearer(guess())).expect(429);
      expect(res.body).toMatchObject({ kind: "Status", reason: "TooManyRequests", code: 429 });
      expect(res.body.message).toContain("failed authentications");
      expect(Number(res.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    }
    // A token already refused is answered 401 from memory; known tokens are admitted as before.
    await request(direct.app).get(tenantPath).set(bearer(first)).expect(401);
    await request(direct.app).get(tenantPath).set(bearer(direct.adminToken)).expect(200);
    await request(direct.app).get(tenantPath).set(bearer(tenant)).expect(200);
    // No token at all costs no lookup and stays a plain 401.
    await request(direct.app).get(tenantPath).expect(401);
  });

  it("counts a burst of concurrent requests with one new, valid token as one lookup, not one failure each", async () => {
    // A client's first use of a fresh token (a new API server, a cache expiry) comes many at once:
    // every request beyond the first joins the lookup in flight and takes nothing from the bucket.
    await request(proxied.app)
      .post(`${API_PREFIX}/tenants`)
      .set(bearer(proxied.adminToken))
      .send({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name: "burst" } })
      .expect(201);
    const fresh = await proxied.tenantToken("burst");
    const codes = (await Promise.all(Array.from({ length: 4 * BURST }, () => request(proxied.app).get(`${API_PREFIX}/tenants/burst`).set("X-Forwarded-For", "198.51.100.200").set(bearer(fresh))))).map(
      (r) => r.status,
    );
    expect(codes).toEqual(Array.from({ length: 4 * BURST }, () => 200));
  });

  it("believes X-Forwarded-For only from a trusted proxy, and only its right-most untrusted entry", async () => {
    const path = `${API_PREFIX}/tenants`;
    for (let i = 0; i < BURST; i++) await request(proxied.app).get(path).set("X-Forwarded-For", "198.51.100.1").set(bearer(guess())).expect(401);
    await request(proxied.app).get(path).set("X-Forwarded-For", "198.51.100.1").set(bearer(guess())).expect(429);
    // Entries left of the proxy's own are the client's to write: they change nothing.
    await request(proxied.app).get(path).set("X-Forwarded-For", "192.0.2.77, 198.51.100.1").set(bearer(guess())).expect(429);
    // Another client behind the same proxy has its own bucket.
    await request(proxied.app).get(path).set("X-Forwarded-For", "198.51.100.2").set(bearer(guess())).expect(401);
    // An IPv6 client is counted by its /64.
    for (let i = 0; i < BURST; i++)
      await request(proxied.app)
        .get(path)
        .set("X-Forwarded-For", `2001:db8:0:1::${i + 1}`)
        .set(bearer(guess()))
        .expect(401);
    await request(proxied.app).get(path).set("X-Forwarded-For", "2001:db8:0:1:ffff::9").set(bearer(guess())).expect(429);
    await request(proxied.app).get(path).set("X-Forwarded-For", "2001:db8:0:2::1").set(bearer(guess())).expect(401);
  });

  it("never pushes verified tokens out of the cache, however many bad ones arrive", async () => {
    // Cached for the whole test; failures limited per address, and every guess from another one.
    const auth = new Authenticator({ tokens: direct.tokens, limiter: new RateLimiter({ qps: 1000, burst: 1000 }), cacheMs: 3_600_000 });
    const good = await direct.tokens.mint({ role: "tenant", tenant: "acme", name: "kept" });
    expect(await auth.principalOf(good.token, "10.0.0.1")).toMatchObject({ role: "tenant", tenant: "acme" });
    // Revoked in Postgres behind the cache's back: a new lookup would now refuse it.
    await direct.tokens.revoke({ role: "tenant", tenant: "acme" }, "kept");
    for (let i = 0; i < 10_001; i += 250) {
      const batch = Array.from({ length: Math.min(250, 10_001 - i) }, (_, j) => auth.principalOf(guess(), `10.1.${(i + j) >> 8}.${(i + j) & 255}`));
      expect(await Promise.all(batch)).toEqual(batch.map(() => null));
    }
    expect(await auth.principalOf(good.token, "10.0.0.1")).toMatchObject({ role: "tenant", tenant: "acme" });
  }, 120_000);
});

describe("EIAAS_ADMIN_TOKEN", () => {
  it("shorter than 32 characters stops the API server and the demo with one line and exit code 1", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "eiaas-short-token-"));
    try {
      for (const main of ["apps/api-server/src/main.ts", "apps/demo/src/main.ts"]) {
        const r = spawnSync(process.execPath, ["--import", "tsx", main], {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 60_000,
          env: { ...process.env, EIAAS_ADMIN_TOKEN: "a".repeat(31), DATABASE_URL: "postgresql://127.0.0.1:1/none", EIAAS_DATA_DIR: dataDir, EIAAS_PORT: "0" },
        });
        expect(r.status, main).toBe(1);
        expect(r.stderr.trim().split("\n"), main).toEqual(["error: EIAAS_ADMIN_TOKEN: EIAAS_ADMIN_TOKEN must be at least 32 characters"]);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
