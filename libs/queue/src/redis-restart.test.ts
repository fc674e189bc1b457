import { afterAll, beforeAll, expect, it } from "vitest";
import { startRedis, type RunningRedis } from "@eiaas/testing";
import type { QueueBackend } from "./backend.js";
import { createRedisQueueBackend } from "./redis-backend.js";
import { taskJob, waitFor } from "./test-support.js";

// A Redis of this file's own: the test stops and restarts it.
let redis: RunningRedis;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  redis = await startRedis();
  process.on("unhandledRejection", onUnhandled);
});
afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  await redis?.stop();
});

it("surfaces a Redis restart during dispatch as retryable errors, then recovers", async () => {
  const errors: Error[] = [];
  const producer: QueueBackend = createRedisQueueBackend({ url: redis.url, onError: (e) => errors.push(e) });
  const consumer: QueueBackend = createRedisQueueBackend({ url: redis.url, onError: (e) => errors.push(e), retryDelayMs: 100 });
  const handled: string[] = [];
  const c = consumer.consumeNodeQueue("edge-r", async (p) => void handled.push(p.name), { onError: (e) => errors.push(e) });
  try {
    await c.waitUntilReady();
    await producer.enqueueTasks([taskJob("edge-r", "before")]);
    await waitFor(() => handled.includes("before"), "the job dispatched before the restart");

    await redis.stop();
    // The producer fails fast instead of hanging, so the dispatcher can retry or leave the job to
    // its repair loop; the consumer keeps retrying on its own.
    await expect(producer.enqueueTasks([taskJob("edge-r", "during")])).rejects.toThrow();
    await expect(producer.depth("node.edge-r")).rejects.toThrow();
    // A dispatcher starting while Redis is down gets errors too, not a hang.
    const late = createRedisQueueBackend({ url: redis.url, operationTimeoutMs: 300 });
    await expect(late.enqueueTasks([taskJob("edge-r", "late")])).rejects.toThrow(/did not answer within 300 ms/);
    await late.close();

    await redis.restart();
    // Redis came back empty (no persistence): the dispatcher re-enqueues from Postgres.
    await waitFor(async () => {
      try {
        await producer.enqueueTasks([taskJob("edge-r", "during")]);
        return true;
      } catch {
        return false;
      }
    }, "enqueue to succeed after the restart");
    await waitFor(() => handled.includes("during"), "the re-dispatched job to be consumed", 20_000);
    expect(handled).toEqual(["before", "during"]);
    expect(errors.length).toBeGreaterThan(0);
  } finally {
    await c.close({ force: true });
    await consumer.close({ force: true });
    await producer.close();
  }
  expect(unhandled).toEqual([]);
});
