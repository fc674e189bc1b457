import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testRedisUrl } from "@eiaas/testing";
import { agentRedisUrl, provisionAgentRedisUser, revokeAgentRedisUser, type AgentRedisCredentials } from "./acl.js";
import type { QueueBackend } from "./backend.js";
import { queueScripts } from "./queue-scripts.js";
import { createRedisQueueBackend } from "./redis-backend.js";
import { flushDb, taskJob, waitFor, withDb } from "./test-support.js";

// Database 52 of the shared test Redis belongs to this file; ACL users are server-wide, so node
// names carry a random suffix.
const suffix = randomBytes(3).toString("hex");
const nodeA = `acl-a-${suffix}`;
const nodeB = `acl-b-${suffix}`;

describe("agent Redis ACL", () => {
  let url: string;
  let admin: Redis;
  let creds: AgentRedisCredentials;
  let control: QueueBackend;
  beforeAll(async () => {
    url = withDb(testRedisUrl(), 52);
    await flushDb(url);
    admin = new Redis(url);
    control = createRedisQueueBackend({ url });
    creds = await provisionAgentRedisUser(admin, nodeA);
  });
  afterAll(async () => {
    await control?.close();
    await revokeAgentRedisUser(admin, nodeA).catch(() => undefined);
    admin?.disconnect();
  });

  it("lets the agent's user consume its own queue through BullMQ", async () => {
    expect(creds.username).toBe(`eiaas-agent-${nodeA}`);
    const errors: Error[] = [];
    // A short lock makes the worker renew its lock while the job runs, so renewal is covered too.
    const agent = createRedisQueueBackend({ url: agentRedisUrl(url, creds), restricted: true, lockDurationMs: 400, onError: (e) => errors.push(e) });
    const done: string[] = [];
    const c = agent.consumeNodeQueue(
      nodeA,
      async (p) => {
        if (p.name === "slow") await new Promise((r) => setTimeout(r, 900));
        if (p.name === "broken") throw new Error("task failed");
        done.push(p.name);
      },
      { concurrency: 2, onError: (e) => errors.push(e) },
    );
    try {
      await c.waitUntilReady();
      await control.enqueueTasks([taskJob(nodeA, "slow"), taskJob(nodeA, "fast"), taskJob(nodeA, "broken")]);
      await waitFor(async () => {
        const d = await control.depth(`node.${nodeA}`);
        return d.completed === 2 && d.failed === 1;
      }, "the agent to finish its jobs");
      expect(done.sort()).toEqual(["fast", "slow"]);
      // The agent can also read its own queue's depth.
      expect((await agent.depth(`node.${nodeA}`)).completed).toBe(2);
      expect(errors.map((e) => e.message)).toEqual([]);
    } finally {
      await agent.close();
    }
  });

  it("denies the agent's user every other node's queue keys", async () => {
    await control.enqueueTasks([taskJob(nodeB, "secret")]);
    const agentRedis = new Redis(agentRedisUrl(url, creds), { enableReadyCheck: false, maxRetriesPerRequest: 0 });
    agentRedis.on("error", () => undefined);
    try {
      await expect(agentRedis.hgetall(`bull:node.${nodeB}:secret-uid.0`)).rejects.toThrow(/NOPERM/);
      await expect(agentRedis.lrange(`bull:node.${nodeB}:wait`, 0, -1)).rejects.toThrow(/NOPERM/);
      await expect(agentRedis.set(`bull:node.${nodeB}:x`, "1")).rejects.toThrow(/NOPERM/);
      await expect(agentRedis.zadd(`bull:node.${nodeB}:marker`, 0, "0")).rejects.toThrow(/NOPERM/);
      // Scripts cannot reach them either, declared or not.
      await expect(agentRedis.eval("return redis.call('GET', KEYS[1])", 1, `bull:node.${nodeB}:meta`)).rejects.toThrow(/NOPERM|permissions|can't access/i);
      await expect(agentRedis.eval(`return redis.call('HGETALL', 'bull:node.${nodeB}:secret-uid.0')`, 0)).rejects.toThrow(/NOPERM|permissions|can't access/i);
      // Nor can BullMQ's own scripts (cached, the only ones it may run) when handed B's keys.
      const getCounts = (await queueScripts()).find((s) => s.name.startsWith("getCounts:"))!;
      await expect(agentRedis.evalsha(getCounts.sha, 1, `bull:node.${nodeB}:`, "wait")).rejects.toThrow(/NOPERM/);
      // Nor server-wide commands.
      await expect(agentRedis.keys("*")).rejects.toThrow(/NOPERM/);
      await expect(agentRedis.flushdb()).rejects.toThrow(/NOPERM/);
      await expect(agentRedis.info()).rejects.toThrow(/NOPERM/);
      await expect(agentRedis.publish("bull", "x")).rejects.toThrow(/NOPERM/);
      // Its own keys are fine.
      expect(await agentRedis.zcard(`bull:node.${nodeA}:marker`)).toBeGreaterThanOrEqual(0);
    } finally {
      agentRedis.disconnect();
    }

    // Through BullMQ: consuming or dispatching to another node's queue fails with NOPERM.
    const errors: Error[] = [];
    const agent = createRedisQueueBackend({ url: agentRedisUrl(url, creds), restricted: true, onError: (e) => errors.push(e) });
    try {
      await expect(agent.enqueueTasks([taskJob(nodeB, "forged")])).rejects.toThrow(/NOPERM|permissions|can't access/i);
      const c = agent.consumeNodeQueue(nodeB, async () => undefined, { onError: (e) => errors.push(e) });
      await waitFor(() => errors.some((e) => /NOPERM|permissions|can't access/i.test(e.message)), "the consumer to be denied");
      await c.close({ force: true });
      expect((await control.depth(`node.${nodeB}`)).waiting).toBe(1);
    } finally {
      await agent.close({ force: true });
    }
  });

  it("rotates the password on re-provisioning and revokes the user", async () => {
    const old = creds;
    creds = await provisionAgentRedisUser(admin, nodeA);
    expect(creds.password).not.toBe(old.password);
    // AUTH on a fresh connection answers WRONGPASS for a bad or deleted user.
    const attempt = async (c: AgentRedisCredentials) => {
      const r = admin.duplicate();
      try {
        await r.call("AUTH", c.username, c.password);
        return await r.ping();
      } finally {
        r.disconnect();
      }
    };
    await expect(attempt(old)).rejects.toThrow(/WRONGPASS|invalid/i);
    expect(await attempt(creds)).toBe("PONG");
    await revokeAgentRedisUser(admin, nodeA);
    await expect(attempt(creds)).rejects.toThrow(/WRONGPASS|invalid/i);
  });
});
