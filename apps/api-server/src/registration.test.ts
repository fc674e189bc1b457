// Node registration as an attacker holding a bootstrap token, another node's agent token or a
// tenant token would try it, against the real API (test database) and real Redis for the agents'
// queue credentials: a bootstrap token creates new nodes only, a node renews its registration
// with its own token without raising its tier or capacity, bootstrap tokens have a use count and
// a TTL, node names follow the object name rules, and re-registration survives concurrent writers.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, kindInfo, type EdgeNodeSpecInput } from "@eiaas/api";
import { provisionAgentRedisUser, revokeAgentRedisUser } from "@eiaas/queue";
import { testRedisUrl } from "@eiaas/testing";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

const NODE = kindInfo("EdgeNode");
const V = "eiaas.io/v1alpha1";
// Redis database 61 belongs to this file; ACL users are server-wide, so node names carry a suffix.
const REDIS_DB = 61;
const suffix = randomBytes(3).toString("hex");
const EDGE: EdgeNodeSpecInput = { tier: "edge", capacity: { cpu: 8000, memoryMiB: 16384, tasks: 4 }, compute: { gflops: 1000 } };

let api: TestApi;
let adminRedis: Redis;
let redisUrl: string;
const provisioned = new Set<string>();
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

const register = (name: string, token: string, spec: EdgeNodeSpecInput = EDGE, labels: Record<string, string> = {}) =>
  request(api.app).post(`${API_PREFIX}/edgenodes/${name}/register`).set(bearer(token)).send({ metadata: { labels }, spec });
const heartbeat = (name: string, token: string) => request(api.app).post(`${API_PREFIX}/edgenodes/${name}/heartbeat`).set(bearer(token)).send({});
const getNode = async (name: string) => (await request(api.app).get(`${API_PREFIX}/edgenodes/${name}`).set(admin()).expect(200)).body;
const mintBootstrap = async (body: Record<string, unknown> = {}) => (await request(api.app).post(`${API_PREFIX}/bootstraptokens`).set(admin()).send(body).expect(201)).body;

/** A Redis client logged in as a node's agent user (no INFO ready check: the user may not run it). */
async function redisLogin(queue: { username: string; password: string }): Promise<string> {
  const c = new Redis(redisUrl, { username: queue.username, password: queue.password, enableReadyCheck: false, maxRetriesPerRequest: 0, lazyConnect: true });
  c.on("error", () => undefined);
  try {
    await c.connect();
    return await c.ping();
  } catch (err) {
    return (err as Error).message;
  } finally {
    c.disconnect();
  }
}

beforeAll(async () => {
  const u = new URL(testRedisUrl());
  u.pathname = `/${REDIS_DB}`;
  redisUrl = u.toString();
  adminRedis = new Redis(redisUrl);
  api = await startTestApi({
    // What server.ts wires when REDIS_URL is set: an ACL user per registering node.
    queueCredentials: async (nodeName) => {
      const c = await provisionAgentRedisUser(adminRedis, nodeName);
      provisioned.add(nodeName);
      return { url: redisUrl, username: c.username, password: c.password };
    },
  });
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set(admin())
    .send({ apiVersion: V, kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
});

afterAll(async () => {
  for (const n of provisioned) await revokeAgentRedisUser(adminRedis, n).catch(() => undefined);
  adminRedis?.disconnect();
  await api?.close();
});

describe("registration: a node's identity", () => {
  it("a bootstrap token creates new nodes only: an existing name answers 409 and leaves the node, its agent token and its queue credentials as they were", async () => {
    const name = `victim-${suffix}`;
    const first = await mintBootstrap();
    const reg = await register(name, first.token, EDGE, { site: "lab" }).expect(201);
    const before = await getNode(name);

    const attacker = await mintBootstrap({ maxUses: 5 });
    const taken = await register(name, attacker.token, { tier: "cloud", capacity: { cpu: 64000, memoryMiB: 262144, gpu: 8 } }, { site: "evil" }).expect(409);
    expect(taken.body).toMatchObject({ kind: "Status", reason: "AlreadyExists", code: 409, details: { name, kind: "edgenodes" } });
    expect(taken.body.token).toBeUndefined();
    // Without a token body: an admin-created node is no more claimable than a registered one.
    await request(api.app)
      .post(`${API_PREFIX}/edgenodes`)
      .set(admin())
      .send({ apiVersion: V, kind: "EdgeNode", metadata: { name: `pre-${suffix}` }, spec: EDGE })
      .expect(201);
    await register(`pre-${suffix}`, attacker.token).expect(409);

    // The node, the real agent's token and its Redis user are untouched.
    const after = await getNode(name);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata.labels).toEqual({ site: "lab" });
    await heartbeat(name, reg.body.token).expect(204);
    expect(await redisLogin(reg.body.queue)).toBe("PONG");
    // The refused attempts did not spend the attacker's token.
    const list = await request(api.app).get(`${API_PREFIX}/bootstraptokens`).set(admin()).expect(200);
    expect(list.body.items.find((t: any) => t.metadata.name === attacker.metadata.name)).toMatchObject({ maxUses: 5, uses: 0 });
  });

  it("the node's own agent token renews its registration (same token, fresh queue credentials) without raising tier or capacity above what was allowed", async () => {
    const name = `renew-${suffix}`;
    const boot = await mintBootstrap();
    const reg = await register(name, boot.token).expect(201);
    const token = reg.body.token as string;

    // Less than registered: what the agent detects now.
    const lower = await register(name, token, { ...EDGE, capacity: { cpu: 4000, memoryMiB: 8192, tasks: 2 } }).expect(201);
    expect(lower.body.token).toBe(token);
    expect(lower.body.queue.password).not.toBe(reg.body.queue.password);
    expect(await redisLogin(lower.body.queue)).toBe("PONG");
    expect((await getNode(name)).spec.capacity).toMatchObject({ cpu: 4000, memoryMiB: 8192, tasks: 2 });
    // Back up to what the first registration had is allowed.
    await register(name, token, EDGE).expect(201);
    expect((await getNode(name)).spec.capacity).toMatchObject({ cpu: 8000, memoryMiB: 16384, tasks: 4 });

    // Above it, or a higher tier, is refused naming the fields; nothing changes.
    const before = await getNode(name);
    const raised = await register(name, token, { ...EDGE, tier: "cloud", capacity: { cpu: 9000, memoryMiB: 16384, gpu: 1 } }).expect(403);
    expect(raised.body).toMatchObject({ kind: "Status", reason: "Forbidden", code: 403 });
    expect(raised.body.details.causes.map((c: any) => c.field).sort()).toEqual(["spec.capacity.cpu", "spec.capacity.gpu", "spec.capacity.tasks", "spec.tier"]);
    const after = await getNode(name);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    await heartbeat(name, token).expect(204);
  });

  it("an admin's edit of a node's tier or capacity is what its renewals may reach; admins may (re)register anything", async () => {
    const name = `edited-${suffix}`;
    const boot = await mintBootstrap();
    const token = (await register(name, boot.token).expect(201)).body.token as string;
    const node = await getNode(name);
    // The admin lowers the node: its agent's renewals keep the admin's value, and cannot raise the
    // fields the admin left alone above the ceiling the edit set.
    await request(api.app)
      .put(`${API_PREFIX}/edgenodes/${name}`)
      .set(admin())
      .send({ ...node, spec: { ...node.spec, capacity: { ...node.spec.capacity, cpu: 2000 } } })
      .expect(200);
    await register(name, token, EDGE).expect(201);
    expect((await getNode(name)).spec.capacity).toMatchObject({ cpu: 2000, memoryMiB: 16384 });
    const refused = await register(name, token, { ...EDGE, capacity: { ...EDGE.capacity, memoryMiB: 32768 } }).expect(403);
    expect(refused.body.details.causes).toEqual([expect.objectContaining({ field: "spec.capacity.memoryMiB" })]);
    // The admin raises it: the agent may now register up to that.
    const now = await getNode(name);
    await request(api.app)
      .put(`${API_PREFIX}/edgenodes/${name}`)
      .set(admin())
      .send({ ...now, spec: { ...now.spec, tier: "cloud", capacity: { ...now.spec.capacity, cpu: 16000, memoryMiB: 32768 } } })
      .expect(200);
    await register(name, token, { ...EDGE, tier: "cloud", capacity: { ...EDGE.capacity, cpu: 16000, memoryMiB: 32768 } }).expect(201);
    expect((await getNode(name)).spec).toMatchObject({ tier: "cloud", capacity: { cpu: 16000, memoryMiB: 32768 } });

    // An admin re-registration sets anything and issues a new agent token (the old one is revoked).
    const byAdmin = await register(name, api.adminToken, { tier: "cloud", capacity: { cpu: 64000, memoryMiB: 1 << 20, gpu: 4 } }).expect(201);
    expect(byAdmin.body.token).not.toBe(token);
    await heartbeat(name, token).expect(401);
    await heartbeat(name, byAdmin.body.token).expect(204);
    await register(name, byAdmin.body.token, { tier: "cloud", capacity: { cpu: 64000, memoryMiB: 1 << 20, gpu: 4 } }).expect(201);
  });

  it("fields an admin set through the API survive the agent's re-registrations (restarts), which keep describing the others", async () => {
    const name = `pinned-${suffix}`;
    const detected: EdgeNodeSpecInput = {
      tier: "edge",
      hardware: "generic-x86",
      capacity: { cpu: 8000, memoryMiB: 16384, gpu: 0, tasks: 4 },
      compute: { gflops: 12 },
      network: { uplinkMbps: 100, rttMs: 5 },
    };
    const boot = await mintBootstrap();
    const token = (await register(name, boot.token, detected, { site: "lab" }).expect(201)).body.token as string;
    // The admin knows better: the hardware class, a measured speed, less CPU for tasks, a parent, a taint.
    const node = await getNode(name);
    await request(api.app)
      .put(`${API_PREFIX}/edgenodes/${name}`)
      .set(admin())
      .send({
        ...node,
        spec: {
          ...node.spec,
          hardware: "edge-server-t4",
          parent: "cloud-1",
          capacity: { ...node.spec.capacity, cpu: 6000 },
          compute: { gflops: 5000 },
          taints: [{ key: "eiaas.io/dedicated", value: "ml", effect: "NoSchedule" }],
        },
      })
      .expect(200);
    // The agent restarts (twice) and detects again: its speed measures a little differently, its
    // memory and link changed; what the admin set stays, the rest follows the agent.
    for (const gflops of [13, 11]) {
      await register(name, token, { ...detected, capacity: { ...detected.capacity, memoryMiB: 15000 }, compute: { gflops }, network: { uplinkMbps: 80, rttMs: 7 } }).expect(201);
      const spec = (await getNode(name)).spec;
      expect(spec).toMatchObject({
        tier: "edge",
        hardware: "edge-server-t4",
        parent: "cloud-1",
        capacity: { cpu: 6000, memoryMiB: 15000, gpu: 0, tasks: 4 },
        compute: { gflops: 5000 },
        network: { uplinkMbps: 80, rttMs: 7 },
        taints: [{ key: "eiaas.io/dedicated", value: "ml", effect: "NoSchedule" }],
      });
    }
    // Its token cannot take a field back by first sending the admin's value, then its own.
    await register(name, token, { ...detected, compute: { gflops: 5000 } }).expect(201);
    await register(name, token, { ...detected, compute: { gflops: 90000 }, hardware: "cloud-a100" }).expect(201);
    expect((await getNode(name)).spec).toMatchObject({ hardware: "edge-server-t4", compute: { gflops: 5000 } });
    // An admin's re-registration sets every field: the agent's later renewals describe them all again.
    const byAdmin = (await register(name, api.adminToken, detected).expect(201)).body.token as string;
    await register(name, byAdmin, { ...detected, hardware: "generic-arm", compute: { gflops: 9 } }).expect(201);
    expect((await getNode(name)).spec).toMatchObject({ hardware: "generic-arm", compute: { gflops: 9 }, capacity: { cpu: 8000 } });
    expect((await getNode(name)).spec.parent).toBeUndefined();
  });

  it("no other token registers a node: another node's agent token and a tenant token answer 403, a used-up token 401", async () => {
    const a = `own-a-${suffix}`;
    const b = `own-b-${suffix}`;
    const boot = await mintBootstrap({ maxUses: 2 });
    const tokenA = (await register(a, boot.token).expect(201)).body.token as string;
    await register(b, boot.token).expect(201);
    const before = await getNode(b);
    const cross = await register(b, tokenA).expect(403);
    expect(cross.body).toMatchObject({ kind: "Status", reason: "Forbidden" });
    // Nor can it create a node of its own.
    await register(`own-c-${suffix}`, tokenA).expect(403);
    await register(b, await api.tenantToken("acme")).expect(403);
    await register(`own-d-${suffix}`, boot.token).expect(401);
    expect((await getNode(b)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    await request(api.app).get(`${API_PREFIX}/edgenodes/own-c-${suffix}`).set(admin()).expect(404);
  });
});

describe("bootstrap tokens: use count and TTL", () => {
  it("single-use with a 24 h TTL by default; a used-up or expired token answers 401 like an unknown one", async () => {
    const t0 = Date.now();
    const boot = await mintBootstrap();
    expect(boot).toMatchObject({ kind: "Token", maxUses: 1, uses: 0 });
    const ttl = Date.parse(boot.expiresAt) - t0;
    expect(ttl).toBeGreaterThan(23.9 * 3600_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3600_000 + 60_000);
    await register(`once-a-${suffix}`, boot.token).expect(201);
    const spent = await register(`once-b-${suffix}`, boot.token).expect(401);
    expect(spent.body).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });
    const unknown = await register(`once-b-${suffix}`, "not-a-token").expect(401);
    expect(spent.body.message).toBe(unknown.body.message);

    const expiring = await mintBootstrap({ maxUses: 0 });
    expect(expiring.maxUses).toBeUndefined();
    // Expired: moved into the past in the database (no test waits a TTL out).
    const sql = new pg.Client({ connectionString: api.db.url });
    await sql.connect();
    try {
      await sql.query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE scope = 'bootstrap' AND name = $1`, [expiring.metadata.name]);
    } finally {
      await sql.end();
    }
    const expired = await register(`late-${suffix}`, expiring.token).expect(401);
    expect(expired.body.message).toBe(unknown.body.message);
    await request(api.app).get(`${API_PREFIX}/edgenodes/once-b-${suffix}`).set(admin()).expect(404);
    await request(api.app).get(`${API_PREFIX}/edgenodes/late-${suffix}`).set(admin()).expect(404);
  });

  it("maxUses N allows N registrations; concurrent registrations cannot spend a token twice", async () => {
    const three = await mintBootstrap({ maxUses: 3, ttlSeconds: 600 });
    expect(Date.parse(three.expiresAt) - Date.now()).toBeLessThanOrEqual(600_000);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => register(`three-${i}-${suffix}`, three.token)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 401)).toHaveLength(5);
    const single = await mintBootstrap();
    const raced = await Promise.all(Array.from({ length: 8 }, (_, i) => register(`race-${i}-${suffix}`, single.token)));
    expect(raced.map((r) => r.status).sort()).toEqual([201, 401, 401, 401, 401, 401, 401, 401]);
    const nodes = await request(api.app).get(`${API_PREFIX}/edgenodes`).set(admin()).expect(200);
    expect(nodes.body.items.filter((n: any) => n.metadata.name.startsWith("race-"))).toHaveLength(1);
    expect(nodes.body.items.filter((n: any) => n.metadata.name.startsWith("three-"))).toHaveLength(3);
  });

  it("a refused registration (bad name, bad spec, existing node) leaves the token's use unspent", async () => {
    const existing = `existing-${suffix}`;
    await register(existing, (await mintBootstrap()).token).expect(201);
    const boot = await mintBootstrap();
    await register(`Bad_Name`, boot.token).expect(422);
    await register(`spec-${suffix}`, boot.token, { tier: "mainframe" } as never).expect(422);
    await register(existing, boot.token).expect(409);
    await register(`kept-${suffix}`, boot.token).expect(201);
  });

  it("the pre-shared token (EIAAS_BOOTSTRAP_TOKEN) has no use limit", async () => {
    const secret = randomBytes(24).toString("base64url");
    await api.tokens.ensureBootstrapToken(secret);
    for (let i = 0; i < 3; i++) await register(`fleet-${i}-${suffix}`, secret).expect(201);
  });

  it("invalid maxUses and ttlSeconds answer 422 naming the field; tenant tokens have no use count", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ maxUses: -1 }, "maxUses"],
      [{ maxUses: 1.5 }, "maxUses"],
      [{ maxUses: "2" }, "maxUses"],
      [{ ttlSeconds: -5 }, "ttlSeconds"],
      [{ ttlSeconds: 60, expiresAt: new Date(Date.now() + 60_000).toISOString() }, "ttlSeconds"],
    ];
    for (const [body, field] of cases) {
      const r = await request(api.app).post(`${API_PREFIX}/bootstraptokens`).set(admin()).send(body).expect(422);
      expect(
        r.body.details.causes.map((c: any) => c.field),
        JSON.stringify(body),
      ).toContain(field);
    }
    const tenantUses = await request(api.app).post(`${API_PREFIX}/tenants/acme/tokens`).set(admin()).send({ maxUses: 3 }).expect(422);
    expect(tenantUses.body.details.causes.map((c: any) => c.field)).toEqual(["maxUses"]);
    // A tenant token keeps no expiry unless asked.
    const tenant = await request(api.app).post(`${API_PREFIX}/tenants/acme/tokens`).set(admin()).send({}).expect(201);
    expect(tenant.body.expiresAt).toBeUndefined();
  });
});

describe("node names at registration", () => {
  it("a name that is not a lowercase RFC 1123 subdomain answers 422 Invalid naming metadata.name, and nothing is created", async () => {
    const boot = await mintBootstrap({ maxUses: 0 });
    for (const bad of ["*", "x%20y", "UPPER", "a..b", "-lead", "x".repeat(254), "a%2Fb"]) {
      const r = await register(bad, boot.token).expect(422);
      expect(r.body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422 });
      expect(
        r.body.details.causes.map((c: any) => c.field),
        bad,
      ).toEqual(["metadata.name"]);
      // The admin path answers the same.
      await register(bad, api.adminToken).expect(422);
    }
    // A NUL anywhere in a URL is refused before any route reads it.
    for (const token of [boot.token, api.adminToken]) {
      expect((await register("a%00b", token).expect(400)).body).toMatchObject({ kind: "Status", reason: "BadRequest", code: 400 });
    }
    const all = await request(api.app).get(`${API_PREFIX}/edgenodes`).set(admin()).expect(200);
    expect(all.body.items.filter((n: any) => !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(n.metadata.name))).toEqual([]);
  });

  it("heartbeats name their node by the same rules", async () => {
    const bad = await heartbeat("UPPER", api.adminToken).expect(422);
    expect(bad.body.details.causes.map((c: any) => c.field)).toEqual(["metadata.name"]);
    await heartbeat("%2A", api.adminToken).expect(422);
  });

  it("a node's parent and a task's node are node names too", async () => {
    const boot = await mintBootstrap();
    const parent = await register(`child-${suffix}`, boot.token, { ...EDGE, parent: "*" }).expect(422);
    expect(parent.body.details.causes.map((c: any) => c.field)).toEqual(["spec.parent"]);
    const task = await request(api.app)
      .post(`${API_PREFIX}/namespaces/acme/tasks`)
      .set(admin())
      .send({ apiVersion: V, kind: "Task", metadata: { name: "t" }, spec: { nodeName: "*", role: "serve" } })
      .expect(422);
    expect(task.body.details.causes.map((c: any) => c.field)).toEqual(["spec.nodeName"]);
  });
});

describe("registration interrupted by a fault", () => {
  // A fault between the node's creation and the answer (the database away as the agent token is
  // minted, Redis away as the queue user is provisioned) used to leave the node created and no
  // agent holding its token: every retry with the bootstrap token then met 409 AlreadyExists and
  // the node was stranded until an admin deleted it (a chaos run's agents, on a starved machine
  // where Postgres connections timed out). Here Postgres itself refuses writes for that node
  // (SQLSTATE 57P03, what a server shutting down answers) a given number of times.
  let pool: pg.Pool;
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: api.db.url, max: 1 });
  });
  afterAll(async () => {
    await pool?.end();
  });

  /** The first `times` writes of `event` on `table` for node `name` fail; later ones pass (a sequence: its count survives the failed transaction's rollback). */
  async function failWrites(name: string, table: string, event: "INSERT" | "DELETE", column: string, times: number): Promise<() => Promise<void>> {
    const id = `fail_${randomBytes(4).toString("hex")}`;
    const row = event === "DELETE" ? "OLD" : "NEW";
    await pool.query(`CREATE SEQUENCE ${id}`);
    await pool.query(`CREATE FUNCTION ${id}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF ${row}.${column} = '${name}' AND nextval('${id}') <= ${times} THEN
          RAISE EXCEPTION 'the database is shutting down' USING ERRCODE = '57P03';
        END IF;
        RETURN ${row};
      END $$`);
    await pool.query(`CREATE TRIGGER ${id} BEFORE ${event} ON ${table} FOR EACH ROW EXECUTE FUNCTION ${id}()`);
    return async () => void (await pool.query(`DROP TRIGGER IF EXISTS ${id} ON ${table}`));
  }

  const tokenUses = async (boot: { metadata: { name: string } }) =>
    (await request(api.app).get(`${API_PREFIX}/bootstraptokens`).set(admin()).expect(200)).body.items.find((t: any) => t.metadata.name === boot.metadata.name)?.uses;

  it("a bootstrap registration that fails after creating its node leaves nothing behind: the retry registers it", async () => {
    const name = `interrupted-${suffix}`;
    const boot = await mintBootstrap({ maxUses: 1 });
    const heal = await failWrites(name, "api_tokens", "INSERT", "node_name", 1);
    try {
      const failed = await register(name, boot.token);
      expect(failed.status).toBe(503);
      expect(failed.body).toMatchObject({ kind: "Status", code: 503 });
      expect(failed.body.token).toBeUndefined();
      // Nothing of it is left: no node, no agent token, the token's only use given back.
      await request(api.app).get(`${API_PREFIX}/edgenodes/${name}`).set(admin()).expect(404);
      expect((await pool.query(`SELECT count(*)::int AS n FROM api_tokens WHERE node_name = $1`, [name])).rows[0].n).toBe(0);
      expect(await tokenUses(boot)).toBe(0);

      // The agent's retry (the same single-use token) registers the node, and its token works.
      const reg = await register(name, boot.token).expect(201);
      await heartbeat(name, reg.body.token).expect(204);
      expect(await redisLogin(reg.body.queue)).toBe("PONG");
    } finally {
      await heal();
    }
  });

  it("a fault that outlasts the failed registration delays taking it back, and the retry then registers the node", async () => {
    const name = `interrupted-long-${suffix}`;
    const boot = await mintBootstrap({ maxUses: 1 });
    const healInsert = await failWrites(name, "api_tokens", "INSERT", "node_name", 1);
    // The node's delete fails too, twice: the first take-back and its first retry.
    const healDelete = await failWrites(name, "edge_nodes", "DELETE", "name", 2);
    try {
      expect((await register(name, boot.token)).status).toBe(503);
      // Taken back once the fault is over (retried in the background, backing off from 0.5 s).
      const deadline = Date.now() + 30_000;
      while ((await request(api.app).get(`${API_PREFIX}/edgenodes/${name}`).set(admin())).status !== 404) {
        if (Date.now() > deadline) throw new Error(`node ${name} was not taken back`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await waitUses(boot, 0);
      const reg = await register(name, boot.token).expect(201);
      await heartbeat(name, reg.body.token).expect(204);
    } finally {
      await healInsert();
      await healDelete();
    }
  });

  async function waitUses(boot: { metadata: { name: string } }, uses: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    while ((await tokenUses(boot)) !== uses) {
      if (Date.now() > deadline) throw new Error(`bootstrap token ${boot.metadata.name}: uses not ${uses}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});

describe("registration under concurrent writers", () => {
  it("re-registration retries its update when another writer (the node lifecycle controller, a heartbeat) changed the node meanwhile", async () => {
    const name = `busy-${suffix}`;
    const boot = await mintBootstrap();
    const token = (await register(name, boot.token).expect(201)).body.token as string;
    // Writers as the scheduler's node lifecycle controller: status flips and spec (taint) updates.
    let writing = true;
    let writes = 0;
    const writer = async (spec: boolean) => {
      while (writing) {
        const cur = await api.store.get(NODE, undefined, name);
        if (!cur) return;
        const w = spec
          ? api.store.update(NODE, cur, { ...cur, spec: { ...cur.spec, taints: writes % 2 ? [] : [{ key: "node.eiaas.io/unreachable", effect: "NoExecute" }] } })
          : api.store.updateStatus(NODE, cur, { ...cur.status, phase: writes % 2 ? "Ready" : "NotReady" });
        await w.then(() => writes++).catch(() => undefined);
      }
    };
    const writers = [writer(false), writer(true), writer(false)];
    try {
      // The node's own renewals, then an admin's (which revoke the agent token: last).
      const renewals = await Promise.all(
        Array.from({ length: 3 }, async () => {
          const codes: number[] = [];
          for (let i = 0; i < 8; i++) codes.push((await register(name, token)).status);
          return codes;
        }),
      );
      const byAdmin: number[] = [];
      for (let i = 0; i < 8; i++) byAdmin.push((await register(name, api.adminToken)).status);
      expect(writes).toBeGreaterThan(0);
      expect(renewals.flat().filter((s) => s !== 201)).toEqual([]);
      expect(byAdmin.filter((s) => s !== 201)).toEqual([]);
    } finally {
      writing = false;
      await Promise.all(writers);
    }
  });
});

describe("node names on the generic create", () => {
  it("generateName makes names by the same rules: a prefix that cannot start a valid name answers 422", async () => {
    for (const prefix of ["*", "UPPER-", "a b", "x".repeat(250)]) {
      const r = await request(api.app)
        .post(`${API_PREFIX}/edgenodes`)
        .set(admin())
        .send({ apiVersion: V, kind: "EdgeNode", metadata: { generateName: prefix }, spec: EDGE })
        .expect(422);
      expect(
        r.body.details.causes.map((c: any) => c.field),
        prefix,
      ).toEqual(["metadata.generateName"]);
    }
    const ok = await request(api.app)
      .post(`${API_PREFIX}/edgenodes`)
      .set(admin())
      .send({ apiVersion: V, kind: "EdgeNode", metadata: { generateName: "gen-" }, spec: EDGE })
      .expect(201);
    expect(ok.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });
});
