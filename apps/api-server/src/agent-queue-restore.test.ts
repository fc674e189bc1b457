// An empty Redis does not strand agents (issue "Converge after every fault", item 2): startApiServer
// with REDIS_URL keeps each agent's Redis user by its password's SHA-256 in Postgres and restores it
// after Redis restarts empty, so a real agent (its own restricted user, as apps/agent/main.ts opens
// it) consumes again; an agent whose user is not restored renews its registration; a node whose
// agent cannot consume its queue is not Ready for scheduling. A Redis of this file's own: it is
// stopped and restarted.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeAgent } from "@eiaas/agent";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { EiaasClient } from "@eiaas/client";
import { AgentRedisUserStore } from "@eiaas/db";
import { createRedisQueueBackend, type QueueBackend } from "@eiaas/queue";
import { SimulatedRuntime } from "@eiaas/runtime";
import { isReady } from "@eiaas/scheduling";
import { createTestDatabase, startRedis, type RunningRedis, type TestDatabase } from "@eiaas/testing";
import { captureLogger, EDGE, waitFor } from "../../agent/src/testing/fixtures.js";
import { apiServerEnv } from "./config.js";
import { startApiServer, type RunningApiServer } from "./server.js";

const TASK = kindInfo("Task");
const NODE = kindInfo("EdgeNode");
const node = `edge-restore-${randomBytes(3).toString("hex")}`;

let redis: RunningRedis;
let admin: Redis;
let db: TestDatabase;
let dataDir: string;
let server: RunningApiServer;
let agent: NodeAgent;
let users: AgentRedisUserStore;
const runtime = new SimulatedRuntime();
const log = captureLogger();
const bootstrapToken = randomBytes(24).toString("base64url");
const adminToken = randomBytes(24).toString("base64url");
let seq = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  admin.on("error", () => undefined);
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), "eiaas-api-restore-"));
  server = await startApiServer(
    apiServerEnv.parse({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      EIAAS_PORT: "0",
      EIAAS_HOST: "127.0.0.1",
      EIAAS_DATA_DIR: dataDir,
      EIAAS_ADMIN_TOKEN: adminToken,
      EIAAS_BOOTSTRAP_TOKEN: bootstrapToken,
      EIAAS_LOG_LEVEL: "silent",
    }),
  );
  users = new AgentRedisUserStore(server.pool);
  await server.store.create(kindInfo("Tenant"), { apiVersion: API_VERSION, metadata: { name: "acme" }, spec: {} } as any);
  // As apps/agent/main.ts runs it: its own restricted Redis user, reopened with fresh credentials when asked.
  agent = new NodeAgent({
    nodeName: node,
    spec: EDGE,
    connection: { server: server.url, caPem: server.tls.caPem, token: bootstrapToken },
    runtime,
    heartbeatMs: 500,
    logger: log.logger,
    openQueue: (c, hooks) => {
      const u = new URL(c.url);
      u.username = encodeURIComponent(c.username!);
      u.password = encodeURIComponent(c.password!);
      return createRedisQueueBackend({ url: u.toString(), restricted: true, retryDelayMs: 100, idlePollSeconds: 1, onError: (err) => hooks?.onError(err) });
    },
  });
  await agent.start();
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await runtime.close();
  await server?.close();
  admin?.disconnect();
  await redis?.stop();
  await db?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A serving task bound to the node, Dispatched, its job enqueued by the control plane (retried while Redis comes back). */
async function dispatch(queue: QueueBackend): Promise<string> {
  const name = `srv-${++seq}`;
  const t = await server.store.create(TASK, {
    apiVersion: API_VERSION,
    metadata: { name, namespace: "acme" },
    spec: { nodeName: node, role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } },
    status: { phase: "Dispatched", attempt: 1 },
  } as any);
  await waitFor(
    async () => {
      await queue.enqueueTasks([{ node, payload: { namespace: "acme", name, uid: t.metadata.uid, attempt: 1, spec: { nodeName: node, role: "serve" } } }]);
      return true;
    },
    `the job of ${name} enqueued`,
    30_000,
  );
  return name;
}

const phase = async (name: string) => (await server.store.get(TASK, "acme", name))?.status?.phase;
const username = `eiaas-agent-${node}`;
/** The password hashes Redis holds for the agent's user. */
async function redisHash(): Promise<string[] | undefined> {
  const user = (await admin.call("ACL", "GETUSER", username)) as unknown[] | null;
  return user ? (user[user.indexOf("passwords") + 1] as string[]) : undefined;
}

describe("agents' Redis users across an empty Redis", () => {
  it("keeps the user's password hash (never the password) in Postgres, as Redis has it", async () => {
    const kept = await waitFor(() => users.get(node), "the kept user");
    expect(kept).toEqual({ nodeName: node, username, passwordSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await redisHash()).toEqual([kept.passwordSha256]);
    // The row holds nothing else: no column carries a password.
    const row = (await server.pool.query(`SELECT * FROM agent_redis_users WHERE node_name = $1`, [node])).rows[0];
    expect(Object.keys(row).sort()).toEqual(["node_name", "node_uid", "password_sha256", "updated_at", "username"]);
  });

  it("restores the users after Redis restarts empty, and the agent consumes again without re-registering", async () => {
    const before = await dispatch(server.queue);
    await waitFor(async () => (await phase(before)) === "Running", "a task Running before the restart", 30_000);
    const kept = (await users.get(node))!;

    await redis.restart();
    await waitFor(async () => ((await admin.call("ACL", "USERS")) as string[]).includes(username), "the user restored", 30_000);
    expect(await redisHash()).toEqual([kept.passwordSha256]);

    const after = await dispatch(server.queue);
    await waitFor(async () => (await phase(after)) === "Running", "a task dispatched after the restart Running", 30_000);
    expect(log.lines.filter((l) => /renewed the registration/.test(l.msg ?? ""))).toEqual([]);
  }, 90_000);

  it("marks the node not Ready (QueueUnavailable) while its agent cannot consume, warning once, and Ready again after", async () => {
    const warnings = () => log.lines.filter((l) => l.msg === "the agent cannot consume its queue: its node is not Ready for scheduling until it can").length;
    const warnedBefore = warnings();
    await redis.stop();
    const down = await waitFor(
      async () => {
        const n = await server.store.get(NODE, undefined, node);
        return n?.status?.phase === "NotReady" ? n : undefined;
      },
      "the node NotReady",
      30_000,
    );
    expect(down.status.conditions.find((c: any) => c.type === "Ready")).toMatchObject({ status: "False", reason: "QueueUnavailable", message: expect.stringMatching(/cannot consume its queue/) });
    // What the scheduler's NodeReady filter reads.
    expect(isReady(down.status)).toBe(false);
    // Several heartbeats later, still one warning.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(warnings() - warnedBefore).toBe(1);

    await redis.restart();
    const up = await waitFor(
      async () => {
        const n = await server.store.get(NODE, undefined, node);
        return n?.status?.phase === "Ready" ? n : undefined;
      },
      "the node Ready again",
      30_000,
    );
    expect(up.status.conditions.find((c: any) => c.type === "Ready")).toMatchObject({ status: "True", reason: "AgentHeartbeat" });
    expect(isReady(up.status)).toBe(true);
    const name = await dispatch(server.queue);
    await waitFor(async () => (await phase(name)) === "Running", "a task Running once the queue is back", 30_000);
    // Redis away is no reason to renew the credentials (they were not refused).
    expect(log.lines.filter((l) => /renewed the registration/.test(l.msg ?? ""))).toEqual([]);
  }, 90_000);

  it("renews its registration when its user is not restored (no hash kept), and consumes again", async () => {
    // A user provisioned before the control plane kept hashes (or whose row was lost).
    await server.pool.query(`DELETE FROM agent_redis_users WHERE node_name = $1`, [node]);
    await redis.restart();
    const name = await dispatch(server.queue);
    await waitFor(async () => (await phase(name)) === "Running", "a task Running after the renewal", 60_000);
    expect(log.lines.some((l) => /renewed the registration/.test(l.msg ?? ""))).toBe(true);
    // The renewal provisioned a fresh user and kept its hash.
    const kept = await waitFor(() => users.get(node), "the renewed user's hash kept");
    expect(await redisHash()).toEqual([kept.passwordSha256]);
  }, 90_000);

  it("forgets the hash and revokes the user when the node is deleted", async () => {
    const other = `${node}-gone`;
    const boot = new EiaasClient({ server: server.url, caPem: server.tls.caPem, token: bootstrapToken });
    const client = new EiaasClient({ server: server.url, caPem: server.tls.caPem, token: adminToken });
    try {
      await boot.request({ method: "POST", path: `/apis/eiaas.io/v1alpha1/edgenodes/${other}/register`, body: { spec: EDGE } });
      expect(await users.get(other)).toMatchObject({ username: `eiaas-agent-${other}` });
      expect((await admin.call("ACL", "USERS")) as string[]).toContain(`eiaas-agent-${other}`);
      await client.delete("edgenodes", other);
    } finally {
      boot.close();
      client.close();
    }
    expect(await users.get(other)).toBeUndefined();
    await waitFor(async () => !((await admin.call("ACL", "USERS")) as string[]).includes(`eiaas-agent-${other}`), "the user revoked");
  });
});
