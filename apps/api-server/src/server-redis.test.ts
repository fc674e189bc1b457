// startApiServer with REDIS_URL (the production wiring, over HTTPS): a node registering with a
// bootstrap token receives credentials of a Redis ACL user that reaches its own queue's keys
// (`bull:node.<name>:*`) and nothing of another node's queue (NOPERM).
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { revokeAgentRedisUser } from "@eiaas/queue";
import { createTestDatabase, testRedisUrl, type TestDatabase } from "@eiaas/testing";
import { apiServerEnv } from "./config.js";
import { startApiServer, type RunningApiServer } from "./server.js";

// Database 55 of the shared test Redis belongs to this file; ACL users are server-wide, so node
// names carry a random suffix. The second node's name extends the first's, so a key pattern
// missing its `:` boundary would show.
const suffix = randomBytes(3).toString("hex");
const NODE_A = `redis-acl-${suffix}`;
const NODE_B = `${NODE_A}-b`;
const REDIS_DB = 55;

interface Registration {
  token: string;
  queue: { url: string; username?: string; password?: string };
}

let db: TestDatabase;
let dataDir: string;
let server: RunningApiServer;
let redisUrl: string;
let adminRedis: Redis;
const bootstrapToken = randomBytes(24).toString("base64url");
const agentClients: Redis[] = [];

/** POSTs JSON to the running server over HTTPS (trusting its generated CA). */
function post(path: string, token: string, body: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${server.url}${API_PREFIX}${path}`,
      { method: "POST", ca: server.tls.caPem, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

async function register(name: string): Promise<Registration> {
  const r = await post(`/edgenodes/${name}/register`, bootstrapToken, { spec: { tier: "edge", capacity: { cpu: 1000, memoryMiB: 1024 } } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

/** An ioredis client logged in as the node's agent user (no INFO ready check: the user may not run it). */
function connectAsAgent(reg: Registration): Redis {
  const client = new Redis(reg.queue.url, {
    username: reg.queue.username!,
    password: reg.queue.password!,
    enableReadyCheck: false,
    maxRetriesPerRequest: 1,
  });
  agentClients.push(client);
  return client;
}

beforeAll(async () => {
  const u = new URL(testRedisUrl());
  u.pathname = `/${REDIS_DB}`;
  redisUrl = u.toString();
  adminRedis = new Redis(redisUrl);
  await adminRedis.flushdb();
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), "eiaas-api-redis-"));
  const env = apiServerEnv.parse({
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl,
    EIAAS_PORT: "0",
    EIAAS_HOST: "127.0.0.1",
    EIAAS_DATA_DIR: dataDir,
    EIAAS_ADMIN_TOKEN: randomBytes(24).toString("base64url"),
    EIAAS_BOOTSTRAP_TOKEN: bootstrapToken,
    EIAAS_LOG_LEVEL: "silent",
  });
  server = await startApiServer(env);
});

afterAll(async () => {
  for (const c of agentClients) c.disconnect();
  await server?.close();
  if (adminRedis) {
    for (const n of [NODE_A, NODE_B]) await revokeAgentRedisUser(adminRedis, n).catch(() => undefined);
    await adminRedis.flushdb().catch(() => undefined);
    adminRedis.disconnect();
  }
  await db?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("startApiServer with Redis: per-node queue credentials", () => {
  let a: Registration;
  let b: Registration;

  beforeAll(async () => {
    a = await register(NODE_A);
    b = await register(NODE_B);
  });

  it("hands a registering agent its own Redis user on the server's Redis, without credentials in the URL", () => {
    expect(a.token).toEqual(expect.any(String));
    expect(a.queue).toEqual({ url: `redis://${new URL(redisUrl).host}/${REDIS_DB}`, username: `eiaas-agent-${NODE_A}`, password: expect.any(String) });
    expect(a.queue.password!.length).toBeGreaterThanOrEqual(32);
    expect(b.queue.username).toBe(`eiaas-agent-${NODE_B}`);
    expect(b.queue.password).not.toBe(a.queue.password);
  });

  it("lets the agent's user read and write keys of its own queue", async () => {
    const agent = connectAsAgent(a);
    const key = `bull:node.${NODE_A}:probe`;
    expect(await agent.set(key, "1")).toBe("OK");
    expect(await agent.get(key)).toBe("1");
    expect(await agent.del(key)).toBe(1);
    // What it wrote is in the server's Redis database, under the queue's key.
    await agent.hset(`bull:node.${NODE_A}:meta`, "probe", "yes");
    expect(await adminRedis.hget(`bull:node.${NODE_A}:meta`, "probe")).toBe("yes");
  });

  it("refuses the agent's user another node's queue keys (NOPERM), both ways", async () => {
    const agentA = connectAsAgent(a);
    const agentB = connectAsAgent(b);
    await adminRedis.set(`bull:node.${NODE_B}:probe`, "b's");
    await expect(agentA.get(`bull:node.${NODE_B}:probe`)).rejects.toThrow(/NOPERM/);
    await expect(agentA.set(`bull:node.${NODE_B}:probe`, "overwritten")).rejects.toThrow(/NOPERM/);
    await expect(agentA.del(`bull:node.${NODE_B}:wait`)).rejects.toThrow(/NOPERM/);
    await expect(agentB.get(`bull:node.${NODE_A}:meta`)).rejects.toThrow(/NOPERM/);
    expect(await adminRedis.get(`bull:node.${NODE_B}:probe`)).toBe("b's");
    // Nor anything outside the node queues (the scheduler's queue).
    await expect(agentA.set("bull:schedule:probe", "1")).rejects.toThrow(/NOPERM/);
    // The agent's own keys still work on the same connection.
    expect(await agentB.set(`bull:node.${NODE_B}:probe`, "mine")).toBe("OK");
  });
});
