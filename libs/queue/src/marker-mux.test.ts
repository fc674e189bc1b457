import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testRedisUrl } from "@eiaas/testing";
import { MarkerMultiplexer } from "./marker-mux.js";
import { flushDb, waitFor, withDb } from "./test-support.js";

// Database 53 of the shared test Redis belongs to this file.
describe("MarkerMultiplexer", () => {
  let url: string;
  let admin: Redis;
  let blocking: Redis;
  let mux: MarkerMultiplexer;
  const errors: Error[] = [];
  beforeAll(async () => {
    url = withDb(testRedisUrl(), 53);
    await flushDb(url);
    admin = new Redis(url);
    blocking = new Redis(url, { maxRetriesPerRequest: 0, connectionName: "mux-test-blocking", retryStrategy: () => 20 });
    blocking.on("error", () => undefined);
    // One connection for all: the test kills "the" blocking connection by name.
    mux = new MarkerMultiplexer(() => blocking, { blockSeconds: 0.2, queuesPerConnection: 1000, maxConnections: 1, onError: (e: Error) => errors.push(e) });
  });
  afterAll(async () => {
    await mux.close();
    admin.disconnect();
  });

  it("wakes the waiter of the queue whose marker was set", async () => {
    mux.register("q:a:marker");
    mux.register("q:b:marker");
    const a = mux.wait("q:a:marker", 30);
    const b = mux.wait("q:b:marker", 30);
    await admin.zadd("q:b:marker", 0, "0");
    expect(await b).toEqual({ member: "0", score: 0 });
    await admin.zadd("q:a:marker", 1234, "1");
    expect(await a).toEqual({ member: "1", score: 1234 });
  });

  it("keeps a marker for a queue nobody waits on, lowest score first", async () => {
    mux.register("q:c:marker");
    await admin.zadd("q:c:marker", 5000, "1");
    await admin.zadd("q:a:marker", 0, "0");
    await waitFor(async () => (await admin.exists("q:c:marker", "q:a:marker")) === 0, "markers popped");
    expect(await mux.wait("q:c:marker", 30)).toEqual({ member: "1", score: 5000 });
    expect(await mux.wait("q:a:marker", 30)).toEqual({ member: "0", score: 0 });
  });

  it("serves many queues that got markers at once", async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `q:many-${i}:marker`);
    for (const k of keys) mux.register(k);
    await new Promise((r) => setTimeout(r, 300)); // the next BZPOPMIN includes them
    const waits = keys.map((k) => mux.wait(k, 30));
    const pipeline = admin.pipeline();
    for (const k of keys) pipeline.zadd(k, 0, "0");
    await pipeline.exec();
    expect((await Promise.all(waits)).every((m) => m?.score === 0)).toBe(true);
    for (const k of keys) mux.unregister(k);
  });

  it("groups queues over a bounded number of blocking connections", async () => {
    const opened: Redis[] = [];
    const grouped = new MarkerMultiplexer(
      () => {
        const c = new Redis(url, { maxRetriesPerRequest: 0 });
        opened.push(c);
        return c;
      },
      { blockSeconds: 0.2, queuesPerConnection: 2, maxConnections: 3 },
    );
    try {
      const keys = Array.from({ length: 8 }, (_, i) => `g:${i}:marker`);
      for (const k of keys.slice(0, 3)) grouped.register(k);
      expect(grouped.stats()).toMatchObject({ queues: 3, connections: 2 });
      for (const k of keys.slice(3)) grouped.register(k);
      expect(grouped.stats()).toMatchObject({ queues: 8, connections: 3 });
      const waits = keys.map((k) => grouped.wait(k, 30));
      for (const k of keys) await admin.zadd(k, 0, "0");
      expect((await Promise.all(waits)).every((m) => m?.score === 0)).toBe(true);
      expect(grouped.stats().markers).toBe(8);
    } finally {
      await grouped.close();
      for (const c of opened) c.disconnect();
    }
  });

  it("lets a queue that joins a group already waiting in at the next short wait", async () => {
    // Long waits once settled; a queue joining while one is issued must not sit it out.
    const late = new MarkerMultiplexer(() => new Redis(url, { maxRetriesPerRequest: 0 }), { blockSeconds: 60, joinBlockSeconds: 0.2, maxConnections: 1 });
    try {
      late.register("j:first:marker");
      await new Promise((r) => setTimeout(r, 300)); // the group's BZPOPMIN is out, without the next key
      late.register("j:late:marker");
      const woken = late.wait("j:late:marker", 30);
      await admin.zadd("j:late:marker", 0, "0");
      const first = await Promise.race([woken, new Promise((r) => setTimeout(() => r("still waiting"), 10_000))]);
      expect(first).toEqual({ member: "0", score: 0 });
    } finally {
      await late.close();
    }
  });

  it("ends a wait on timeout, interrupt or unregister", async () => {
    mux.register("q:d:marker");
    expect(await mux.wait("q:d:marker", 0.05)).toBeNull();
    const interrupted = mux.wait("q:d:marker", 30);
    mux.interrupt("q:d:marker");
    expect(await interrupted).toBeNull();
    const dropped = mux.wait("q:d:marker", 30);
    mux.unregister("q:d:marker");
    expect(await dropped).toBeNull();
    expect(await mux.wait("q:d:marker", 30)).toBeNull();
  });

  it("has every queue look once after its connection broke", async () => {
    mux.register("q:e:marker");
    const woken = mux.wait("q:e:marker", 30);
    const list = String(await admin.client("LIST"));
    const id = /id=(\d+) [^\n]* name=mux-test-blocking /.exec(list)?.[1];
    expect(id).toBeDefined();
    await admin.client("KILL", "ID", id!);
    expect(await woken).toEqual({ member: "0", score: 0 });
    expect(errors.length).toBeGreaterThan(0);
  });
});
