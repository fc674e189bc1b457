// An agent's Redis user runs BullMQ's scripts by SHA-1 and nothing of its own; the control plane
// keeps the scripts cached. A Redis of this file's own: the tests flush its script cache, restart
// it and read its ACL LOG, which would disturb the other files' shared one.
import { createHash } from "node:crypto";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type RunningRedis } from "@eiaas/testing";
import { agentRedisAclRules, agentRedisUrl, agentRedisUsername, provisionAgentRedisUser, type AgentRedisCredentials } from "./acl.js";
import type { QueueBackend, TaskHandler } from "./backend.js";
import { QueueScriptKeeper } from "./queue-keeper.js";
import { queueScripts } from "./queue-scripts.js";
import { createRedisQueueBackend, type RedisQueueBackendOptions } from "./redis-backend.js";
import { deferred, taskJob, waitFor } from "./test-support.js";

let redis: RunningRedis;
let admin: Redis;
const closers: Array<() => Promise<unknown> | unknown> = [];
/** `value`, closed after the test. */
const track = <T>(value: T, close: (v: T) => Promise<unknown> | unknown): T => (closers.push(() => close(value)), value);

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  admin.on("error", () => undefined);
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await admin.call("ACL", "LOG", "RESET");
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});

/** ACL LOG entries (denials) of one user, as objects. */
async function denials(username: string): Promise<Array<Record<string, string>>> {
  const entries = (await admin.call("ACL", "LOG", "128")) as unknown[][];
  return entries.map((e) => Object.fromEntries(Array.from({ length: e.length / 2 }, (_, i) => [String(e[2 * i]), String(e[2 * i + 1])]))).filter((e) => e.username === username);
}

/** A raw client logged in as the agent user (no INFO ready check: the user may not run it). */
function connectAs(creds: AgentRedisCredentials): Redis {
  const c = new Redis(agentRedisUrl(redis.url, creds), { enableReadyCheck: false, maxRetriesPerRequest: 0 });
  c.on("error", () => undefined);
  return track(c, (x) => x.disconnect());
}

function control(): QueueBackend {
  const q = createRedisQueueBackend({ url: redis.url });
  return track(q, (x) => x.close({ force: true }));
}

/** The agent's side, as apps/agent opens it from its registration (restricted), with short timings. */
function agentBackend(creds: AgentRedisCredentials, errors: Error[], extra: Partial<RedisQueueBackendOptions> = {}): QueueBackend {
  const q = createRedisQueueBackend({
    url: agentRedisUrl(redis.url, creds),
    restricted: true,
    lockDurationMs: 400,
    stalledIntervalMs: 300,
    retryDelayMs: 100,
    idlePollSeconds: 1,
    onError: (e) => errors.push(e),
    ...extra,
  });
  return track(q, (x) => x.close({ force: true }));
}

describe("an agent's Redis user runs no code of its own", () => {
  it("refuses EVAL of an endless script, and Redis keeps answering everyone", async () => {
    // Redis answers BUSY to everyone once a script ran this long (5 s by default).
    await admin.call("CONFIG", "SET", "busy-reply-threshold", "100");
    const creds = await provisionAgentRedisUser(admin, "edge-loop");
    const agent = connectAs(creds);
    const key = "bull:node.edge-loop:x";
    // Writes one key it may write, then spins (for 3 s, so that a Redis that ran it recovers).
    const loop = "redis.call('SET', KEYS[1], '1') local t = tonumber(redis.call('TIME')[1]) while tonumber(redis.call('TIME')[1]) < t + 3 do end return 1";
    const ran = agent.eval(loop, 1, key).then(
      () => "ran",
      (e: Error) => e.message,
    );
    const readOnly = agent.call("EVAL_RO", "local t = tonumber(redis.call('TIME')[1]) while tonumber(redis.call('TIME')[1]) < t + 3 do end return 1", "0").then(
      () => "ran",
      (e: Error) => e.message,
    );
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(await admin.ping()).toBe("PONG");
      expect(await admin.exists(key)).toBe(0);
      expect(await ran).toMatch(/^NOPERM .*'eval'/);
      expect(await readOnly).toMatch(/^NOPERM .*'eval_ro'/);
    } finally {
      // Where the scripts did run (a user allowed EVAL), Redis is usable again once they end.
      await Promise.all([ran, readOnly]);
    }
  });

  it("refuses SCRIPT, FUNCTION, FCALL and the other ways to load, run or stop code", async () => {
    const creds = await provisionAgentRedisUser(admin, "edge-code");
    const agent = connectAs(creds);
    const [sha] = (await queueScripts()).map((s) => s.sha);
    const attempts: Array<[string, ...string[]]> = [
      ["SCRIPT", "LOAD", "return 1"],
      // Flushing would stall every other agent until the control plane reloaded the scripts.
      ["SCRIPT", "FLUSH"],
      ["SCRIPT", "KILL"],
      ["SCRIPT", "EXISTS", sha!],
      ["FUNCTION", "LOAD", "#!lua name=evil\nredis.register_function('spin', function() while true do end end)"],
      ["FUNCTION", "FLUSH"],
      ["FCALL", "spin", "0"],
      ["FCALL_RO", "spin", "0"],
      ["EVALSHA_RO", sha!, "0"],
      ["DEBUG", "SLEEP", "0"],
      ["MODULE", "LIST"],
      ["CLIENT", "PAUSE", "1000"],
      ["CONFIG", "SET", "busy-reply-threshold", "100000"],
      ["MULTI"],
      ["WAIT", "0", "0"],
    ];
    for (const [command, ...args] of attempts) {
      // The ACL's verdict, whatever the server's configuration (DEBUG is also off by default)…
      expect(await admin.call("ACL", "DRYRUN", creds.username, command, ...args), `${command} ${args[0] ?? ""}`).toMatch(/no permissions/);
      // …and what the agent gets.
      await expect(agent.call(command, ...args), `${command} ${args[0] ?? ""}`).rejects.toThrow(/^NOPERM|^ERR DEBUG command not allowed/);
    }
    // Blocking waits only on its own keys (they block its own connection, nobody else's).
    await expect(agent.bzpopmin("bull:node.edge-other:marker", 1)).rejects.toThrow(/^NOPERM/);
  });
});

describe("a BullMQ Worker on the agent's user", () => {
  it("completes, fails, retries, delays and recovers stalled jobs by EVALSHA alone (no ACL denial)", async () => {
    const node = "edge-work";
    const creds = await provisionAgentRedisUser(admin, node);
    const errors: Error[] = [];
    const queue = control();
    // Retries and delays: the agents' task jobs have one attempt, but the ACL must not break a Worker
    // that meets these (BullMQ's other scripts) either.
    const raw = track(new Redis(redis.url, { maxRetriesPerRequest: null }), (x) => x.disconnect());
    const plain = track(new Queue(`node.${node}`, { connection: raw }), (x) => x.close());
    const handledBy = new Map<string, string[]>();
    const hang = deferred();
    const handler =
      (who: string): TaskHandler =>
      async (p, ctx) => {
        handledBy.set(p.name, [...(handledBy.get(p.name) ?? []), who]);
        if (p.name === "slow") await new Promise((r) => setTimeout(r, 900)); // outlives its 400 ms lock: renewed
        if (p.name.startsWith("broken")) throw new Error("task failed");
        if (p.name === "stall" && who === "first") await Promise.race([hang.promise, new Promise((r) => ctx.signal.addEventListener("abort", r))]);
      };
    const first = agentBackend(creds, errors);
    const c1 = first.consumeNodeQueue(node, handler("first"), { concurrency: 4, onError: (e) => errors.push(e) });
    await c1.waitUntilReady();
    await queue.enqueueTasks([taskJob(node, "slow"), taskJob(node, "fast"), taskJob(node, "broken"), taskJob(node, "stall"), ...Array.from({ length: 30 }, (_, i) => taskJob(node, `bulk-${i}`))]);
    const payload = (name: string) => taskJob(node, name).payload;
    await plain.add("task", payload("broken-backoff"), { jobId: "broken-backoff.0", attempts: 2, backoff: { type: "fixed", delay: 100 } });
    await plain.add("task", payload("broken-retry"), { jobId: "broken-retry.0", attempts: 2 });
    await plain.add("task", payload("later"), { jobId: "later.0", delay: 200 });
    await plain.add("task", payload("prio"), { jobId: "prio.0", priority: 3 });
    await waitFor(() => handledBy.has("stall") && handledBy.size === 38, "the first consumer to take every job");
    await waitFor(async () => (await queue.depth(`node.${node}`)).completed === 34, "all but the hanging job to finish");

    // The agent dies (a forced close leaves its job active); the next consumer gets the job once
    // the lock runs out and a stalled check hands it back.
    await c1.close({ force: true });
    const second = agentBackend(creds, errors);
    second.consumeNodeQueue(node, handler("second"), { concurrency: 4, onError: (e) => errors.push(e) });
    await waitFor(() => handledBy.get("stall")?.includes("second"), "the stalled job to reach the next consumer");
    await waitFor(async () => (await queue.depth(`node.${node}`)).completed === 35, "the stalled job to complete");

    const depth = await second.depth(`node.${node}`);
    expect(depth).toMatchObject({ waiting: 0, active: 0, delayed: 0, prioritized: 0, completed: 35, failed: 3 });
    expect(handledBy.get("broken-backoff")).toHaveLength(2);
    expect(handledBy.get("broken-retry")).toHaveLength(2);
    // All of it with EVAL refused to this user, and nothing was denied: no EVAL was tried, no
    // command outside the list was needed.
    expect(await admin.call("ACL", "DRYRUN", creds.username, "EVAL", "return 1", "0")).toMatch(/no permissions/);
    expect(await denials(creds.username)).toEqual([]);
    expect(errors.map((e) => e.message)).toEqual([]);
    hang.resolve();
  });

  it("backs off when its script calls are denied instead of retrying them in a busy loop", async () => {
    const creds = await provisionAgentRedisUser(admin, "edge-own");
    const errors: Error[] = [];
    // Pointed at another node's queue: every fetch is NOPERM, for ever.
    const agent = agentBackend(creds, errors, { retryDelayMs: 500 });
    const c = agent.consumeNodeQueue("edge-else", async () => undefined, { onError: (e) => errors.push(e) });
    await waitFor(() => errors.some((e) => /^NOPERM/.test(e.message)), "the consumer to be denied");
    await new Promise((r) => setTimeout(r, 2000));
    await c.close({ force: true });
    // Without the pause BullMQ's fetch loop re-ran the denied script as fast as Redis answered
    // (~6,500 times a second here); with it, a few per second.
    const denied = (await denials(creds.username)).reduce((n, e) => n + Number(e.count), 0);
    expect(denied).toBeGreaterThan(0);
    expect(denied).toBeLessThan(100);
  });
});

describe("the control plane keeps the scripts cached for the agents", () => {
  const allCached = async () => {
    const scripts = await queueScripts();
    return ((await admin.call("SCRIPT", "EXISTS", ...scripts.map((s) => s.sha))) as number[]).every((x) => x === 1);
  };

  it("loads every BullMQ script before handing out credentials", async () => {
    await admin.call("SCRIPT", "FLUSH");
    expect(await allCached()).toBe(false);
    await provisionAgentRedisUser(admin, "edge-fresh");
    expect(await allCached()).toBe(true);
  });

  it("reloads them after SCRIPT FLUSH, and the agent's worker carries on", async () => {
    const node = "edge-flush";
    const creds = await provisionAgentRedisUser(admin, node);
    const loaded: number[] = [];
    const keeper = track(new QueueScriptKeeper(admin, { checkIntervalMs: 300, onLoaded: (n) => loaded.push(n) }), (x) => x.stop());
    keeper.start();
    const errors: Error[] = [];
    const handled: string[] = [];
    const queue = control();
    const c = agentBackend(creds, errors).consumeNodeQueue(node, async (p) => void handled.push(p.name), { onError: (e) => errors.push(e) });
    await c.waitUntilReady();
    await queue.enqueueTasks([taskJob(node, "before")]);
    await waitFor(() => handled.includes("before"), "the job before the flush");

    await admin.call("SCRIPT", "FLUSH");
    await queue.enqueueTasks([taskJob(node, "after")]);
    await waitFor(() => handled.includes("after"), "the job after the flush");
    await waitFor(async () => (await queue.depth(`node.${node}`)).completed === 2, "both jobs completed");
    expect(loaded.length).toBeGreaterThan(0);
    expect(await allCached()).toBe(true);
    expect(await denials(creds.username)).toEqual([]);
    // Whatever the agent met meanwhile was a NOSCRIPT it waited out, not a failure.
    expect(errors.filter((e) => !/^NOSCRIPT/.test(e.message)).map((e) => e.message)).toEqual([]);
  });

  it("reloads them as soon as Redis is back from a restart, and a restored agent user consumes again", async () => {
    const node = "edge-restart";
    const creds = await provisionAgentRedisUser(admin, node);
    // Only the reconnect can trigger it here: the periodic check is far away.
    const keeper = track(new QueueScriptKeeper(admin, { checkIntervalMs: 3_600_000 }), (x) => x.stop());
    keeper.start();
    const errors: Error[] = [];
    const handled: string[] = [];
    const queue = control();
    const c = agentBackend(creds, errors).consumeNodeQueue(node, async (p) => void handled.push(p.name), { onError: (e) => errors.push(e) });
    await c.waitUntilReady();
    await queue.enqueueTasks([taskJob(node, "before")]);
    await waitFor(() => handled.includes("before"), "the job before the restart");

    await redis.restart();
    await waitFor(allCached, "the keeper to reload the scripts into the restarted Redis");
    // The restarted Redis lost its ACL users too. Restoring them is not the keeper's job: here the
    // test puts the agent's user back as it was (same password), as the control plane would.
    const hash = createHash("sha256").update(creds.password).digest("hex");
    await admin.call("ACL", "SETUSER", agentRedisUsername(node), "reset", "on", `#${hash}`, ...agentRedisAclRules(node));
    // Redis came back empty: the dispatcher re-enqueues from Postgres.
    await waitFor(async () => {
      try {
        await queue.enqueueTasks([taskJob(node, "after")]);
        return true;
      } catch {
        return false;
      }
    }, "enqueue to succeed after the restart");
    await waitFor(() => handled.includes("after"), "the agent to consume after the restart", 20_000);
    // Refused logins while its user was gone; nothing else.
    expect((await denials(creds.username)).filter((d) => d.reason !== "auth")).toEqual([]);
  });
});
