import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testRedisUrl } from "@eiaas/testing";
import { queueBackendContract } from "./backend-contract.js";
import { createRedisQueueBackend } from "./redis-backend.js";
import { flushDb, taskJob, waitFor, withDb } from "./test-support.js";

// Database 50 of the shared test Redis belongs to this file.
const url = () => withDb(testRedisUrl(), 50);

queueBackendContract("redis", async () => {
  await flushDb(url());
  const raw = new Redis(url(), { maxRetriesPerRequest: null });
  const queues: Queue[] = [];
  return {
    backend: (options) => createRedisQueueBackend({ url: url(), ...options }),
    addRaw: async (queue, jobId, data) => {
      const q = new Queue(queue, { connection: raw });
      queues.push(q);
      await q.add("task", data, { jobId });
    },
    close: async () => {
      await Promise.all(queues.map((q) => q.close()));
      raw.disconnect();
    },
  };
});

describe("redis queue backend connections", () => {
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(url());
  });
  afterAll(() => admin.disconnect());

  const clientsNamed = async (name: string) =>
    String(await admin.client("LIST"))
      .split("\n")
      .filter((l) => l.includes(` name=${name} `)).length;

  it("consumes 300 node queues over a fixed number of connections", async () => {
    const fleet = createRedisQueueBackend({ url: url(), redisOptions: { connectionName: "eiaas-fleet-test" } });
    const producer = createRedisQueueBackend({ url: url() });
    try {
      const nodes = Array.from({ length: 300 }, (_, i) => `big-fleet-${i}`);
      const got = new Set<string>();
      const consumers = nodes.map((n) => fleet.consumeNodeQueue(n, async (p) => void got.add(p.spec.nodeName), { concurrency: 2 }));
      await Promise.all(consumers.map((c) => c.waitUntilReady()));
      await producer.enqueueTasks(nodes.map((n) => taskJob(n, "work")));
      await waitFor(() => got.size === nodes.length, "a job on every node");
      // One shared consumer connection plus the multiplexer's blocking ones, 100 queues each
      // (no producer use yet).
      expect(await clientsNamed("eiaas-fleet-test")).toBe(1 + 3);
      await fleet.depth("node.big-fleet-0");
      expect(await clientsNamed("eiaas-fleet-test")).toBe(1 + 3 + 1);
    } finally {
      await fleet.close();
      await producer.close();
    }
    await waitFor(async () => (await clientsNamed("eiaas-fleet-test")) === 0, "connections closed");
  });
});

describe("redis queue backend stalled jobs", () => {
  it("hands a job whose consumer died (its lock ran out) to a live consumer, whose stalled checks start at a random point of the interval", async () => {
    await flushDb(url());
    const raw = new Redis(url(), { maxRetriesPerRequest: null });
    const queue = "node.stall-1";
    const job = taskJob("stall-1", "lost");
    // A consumer that takes the job and dies: a manual worker whose 200 ms lock is never renewed.
    const q = new Queue(queue, { connection: raw });
    await q.add("task", job.payload, { jobId: `${job.payload.uid}.${job.payload.attempt}` });
    const dead = new Worker(queue, null, { connection: raw, lockDuration: 200, autorun: false });
    expect((await dead.getNextJob("dead-token"))?.id).toBe("lost-uid.0");
    await dead.close(true);

    const fleet = createRedisQueueBackend({ url: url(), lockDurationMs: 200, stalledIntervalMs: 300 });
    try {
      const seen: number[] = [];
      const consumer = fleet.consumeNodeQueue("stall-1", async (_payload, ctx) => void seen.push(ctx.attemptsStarted));
      await consumer.waitUntilReady();
      await waitFor(() => seen.length > 0, "the stalled job run by the live consumer", 10_000);
      expect(seen).toEqual([1]);
    } finally {
      await fleet.close();
      await q.close();
      raw.disconnect();
    }
  });
});
