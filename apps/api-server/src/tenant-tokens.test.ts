// A tenant token belongs to the Tenant object it was minted for (its uid), not to the name: once
// the tenant is being deleted, and after it was deleted and created again under the same name, its
// tokens are refused (401) by every API process — a second one that verified the token a moment
// before included — and never write into the new tenant. Tokens minted before tokens carried a
// uid are bound by the migration to the live tenant of their name, or refused. Two API servers on
// one database, real Postgres, requests through each server's handler.
import { readFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { API_PREFIX, API_VERSION, kindInfo } from "@eiaas/api";
import { hashToken, MIGRATIONS_DIR } from "@eiaas/db";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

let one: TestApi;
let two: TestApi;

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const tenant = (name: string) => ({ apiVersion: API_VERSION, kind: "Tenant", metadata: { name } });
const model = (name: string) => ({
  apiVersion: API_VERSION,
  kind: "Model",
  metadata: { name },
  spec: { inputBytes: 1000, accuracy: 0.8, layers: [{ name: "l1", flops: 1e6, outputBytes: 100, memoryMiB: 1 }] },
});

beforeAll(async () => {
  one = await startTestApi();
  two = await startTestApi({ database: one.db, keepDatabase: true });
});
afterAll(async () => {
  await two?.close();
  await one?.close();
});

/** A tenant token minted through the API (admin), as operators do. */
async function mint(api: TestApi, name: string): Promise<string> {
  const r = await request(api.app).post(`${API_PREFIX}/tenants/${name}/tokens`).set(bearer(api.adminToken)).send({}).expect(201);
  return r.body.token;
}

async function deleteAndWait(api: TestApi, name: string): Promise<void> {
  await request(api.app).delete(`${API_PREFIX}/tenants/${name}`).set(bearer(api.adminToken)).expect(200);
  await expect.poll(async () => (await request(api.app).get(`${API_PREFIX}/tenants/${name}`).set(bearer(api.adminToken))).status, { timeout: 20_000, interval: 20 }).toBe(404);
}

describe("tenant tokens", () => {
  it("a deleted tenant's token is refused on a second API process that had just verified it, while the tenant is deleted and after it is created again: never a write", async () => {
    await request(one.app).post(`${API_PREFIX}/tenants`).set(bearer(one.adminToken)).send(tenant("acme")).expect(201);
    const old = await mint(one, "acme");
    // The second API process verifies it (and trusts it for the verification cache's 2 s).
    await request(two.app).get(`${API_PREFIX}/namespaces/acme/models`).set(bearer(old)).expect(200);

    // Being deleted: refused as soon as the second process has seen it, though verified a moment
    // before (its cache of verified tokens would have trusted it for 2 s more); nothing it wrote
    // survives the deletion.
    await request(one.app).delete(`${API_PREFIX}/tenants/acme`).set(bearer(one.adminToken)).expect(200);
    await two.cache.get(kindInfo("Tenant"), undefined, "acme");
    await request(two.app).get(`${API_PREFIX}/namespaces/acme/models`).set(bearer(old)).expect(401);
    await request(two.app).post(`${API_PREFIX}/namespaces/acme/models`).set(bearer(old)).send(model("during")).expect(401);

    // Gone, and created again under the same name: the old token is refused on both processes.
    await expect.poll(async () => (await request(one.app).get(`${API_PREFIX}/tenants/acme`).set(bearer(one.adminToken))).status, { timeout: 20_000, interval: 20 }).toBe(404);
    const again = await request(one.app).post(`${API_PREFIX}/tenants`).set(bearer(one.adminToken)).send(tenant("acme")).expect(201);
    for (const api of [two, one]) {
      const created = await request(api.app).post(`${API_PREFIX}/namespaces/acme/models`).set(bearer(old)).send(model("ghost"));
      expect(created.status).toBe(401);
      expect(created.body).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });
      await request(api.app).get(`${API_PREFIX}/namespaces/acme/models`).set(bearer(old)).expect(401);
      await request(api.app).get(`${API_PREFIX}/tenants/acme`).set(bearer(old)).expect(401);
    }
    const models = await request(one.app).get(`${API_PREFIX}/namespaces/acme/models`).set(bearer(one.adminToken)).expect(200);
    expect(models.body.items).toEqual([]);

    // The new tenant's own token works at once on both processes (neither cache has to catch up first).
    const fresh = await mint(one, "acme");
    await request(two.app).post(`${API_PREFIX}/namespaces/acme/models`).set(bearer(fresh)).send(model("mine")).expect(201);
    await request(one.app).get(`${API_PREFIX}/namespaces/acme/models/mine`).set(bearer(fresh)).expect(200);
    expect((await one.tokens.verify(fresh))?.tenantUid).toBe(again.body.metadata.uid);
  });

  it("refuses a token bound to another tenant of the same name (one minted for the deleted tenant and never revoked)", async () => {
    await request(one.app).post(`${API_PREFIX}/tenants`).set(bearer(one.adminToken)).send(tenant("reborn")).expect(201);
    const first = (await request(one.app).get(`${API_PREFIX}/tenants/reborn`).set(bearer(one.adminToken)).expect(200)).body.metadata.uid;
    await deleteAndWait(one, "reborn");
    await request(one.app).post(`${API_PREFIX}/tenants`).set(bearer(one.adminToken)).send(tenant("reborn")).expect(201);
    // Its row survived (e.g. minted on another process while the tenant was being deleted).
    const stray = await one.tokens.mint({ role: "tenant", tenant: "reborn", tenantUid: first });
    for (const api of [one, two]) {
      await request(api.app).get(`${API_PREFIX}/namespaces/reborn/models`).set(bearer(stray.token)).expect(401);
      await request(api.app).post(`${API_PREFIX}/namespaces/reborn/models`).set(bearer(stray.token)).send(model("stray")).expect(401);
    }
  });

  it("mints no token for a tenant being deleted, nor for one that does not exist", async () => {
    await request(one.app).post(`${API_PREFIX}/tenants`).set(bearer(one.adminToken)).send(tenant("leaving")).expect(201);
    await request(one.app).post(`${API_PREFIX}/namespaces/leaving/models`).set(bearer(one.adminToken)).send(model("m")).expect(201);
    await request(one.app).delete(`${API_PREFIX}/tenants/leaving`).set(bearer(one.adminToken)).expect(200);
    const refused = await request(two.app).post(`${API_PREFIX}/tenants/leaving/tokens`).set(bearer(two.adminToken)).send({});
    expect([403, 404]).toContain(refused.status);
    expect(refused.body).toMatchObject({ kind: "Status" });
    await request(one.app).post(`${API_PREFIX}/tenants/nobody/tokens`).set(bearer(one.adminToken)).send({}).expect(404);
    await expect(one.tokens.mint({ role: "tenant", tenant: "nobody" })).rejects.toMatchObject({ reason: "NotFound" });
  });

  it("binds tokens minted before tokens carried a uid to the live tenant of their name (migration), and refuses those left unbound", async () => {
    await request(one.app).post(`${API_PREFIX}/tenants`).set(bearer(one.adminToken)).send(tenant("legacy")).expect(201);
    const uid = (await request(one.app).get(`${API_PREFIX}/tenants/legacy`).set(bearer(one.adminToken)).expect(200)).body.metadata.uid;
    // Two rows as an older server wrote them: no tenant uid; one names a tenant that is gone.
    const pool = new pg.Pool({ connectionString: one.db.url, max: 1 });
    const insert = (secret: string, tenantName: string) =>
      pool.query(`INSERT INTO api_tokens (id, scope, name, role, tenant, token_hash) VALUES ($1, $2, $3, 'tenant', $4, $5)`, [
        randomUUID(),
        `tenant:${tenantName}`,
        `old-${tenantName}`,
        tenantName,
        hashToken(secret),
      ]);
    await insert("legacy-secret-of-a-live-tenant-000000000", "legacy");
    await insert("legacy-secret-of-a-gone-tenant-000000000", "vanished");
    // Unbound, neither is accepted.
    await request(one.app).get(`${API_PREFIX}/namespaces/legacy/models`).set(bearer("legacy-secret-of-a-live-tenant-000000000")).expect(401);

    // The migration's binding (its statements after the column is added).
    const sql = await readFile(`${MIGRATIONS_DIR}/20261202000000_tenant_token_uid/migration.sql`, "utf8");
    const update = sql.slice(sql.indexOf("UPDATE"));
    await pool.query(update);
    const rows = await pool.query<{ tenant: string; tenant_uid: string | null }>(`SELECT tenant, tenant_uid FROM api_tokens WHERE name LIKE 'old-%' ORDER BY tenant`);
    expect(rows.rows).toEqual([
      { tenant: "legacy", tenant_uid: uid },
      { tenant: "vanished", tenant_uid: null },
    ]);
    await pool.end();
    // two never saw the bound one rejected (one remembers a rejected secret for 30 s).
    await request(two.app).get(`${API_PREFIX}/namespaces/legacy/models`).set(bearer("legacy-secret-of-a-live-tenant-000000000")).expect(200);
    await request(two.app).get(`${API_PREFIX}/namespaces/vanished/models`).set(bearer("legacy-secret-of-a-gone-tenant-000000000")).expect(401);
  });
});
