// The watch side of the informer: watchers get every change in order, isolated from each other;
// resumes read the backlog and answer Gone once it was compacted.
import { beforeAll, describe, expect, it } from "vitest";
import { kindInfo } from "@eiaas/api";
import { useTestStore, type TestDatabase } from "@eiaas/testing";
import { ChangeFeed } from "./change-feed.js";
import type { Database } from "./client.js";
import { objectCacheInformer, type ObjectCacheInformerOptions } from "./object-cache.js";
import { ObjectStore } from "./object-store.js";
import type { WatchEventRecord } from "./watch-log.js";

const MODEL = kindInfo("Model");

// The file's own database, pool and store, reset before each test (libs/testing's fixture).
const fixture = useTestStore({ poolSize: 10 });
let db: TestDatabase;
let database: Database;
let store: ObjectStore;
beforeAll(() => void ({ tdb: db, db: database, store } = fixture));

const model = (name: string) => ({
  metadata: { name, namespace: "acme" },
  spec: { inputBytes: 1, accuracy: 0.5, layers: [{ name: "l1", flops: 1, outputBytes: 1, memoryMiB: 0 }] },
});

/** An informer and the feed on it, as in the API process (no compaction timer: the tests compact). */
async function startFeed(options: Omit<ObjectCacheInformerOptions, "databaseUrl">) {
  const informer = objectCacheInformer({ databaseUrl: db.url, ...options });
  await informer.start();
  const feed = new ChangeFeed({ informer, compactIntervalMs: 0 });
  feed.start();
  return {
    feed,
    informer,
    close: async () => {
      feed.close();
      await informer.close();
    },
  };
}

describe("ChangeFeed", () => {
  it("delivers every change in resourceVersion order and answers Gone for compacted versions", async () => {
    // The versions cross a power of ten (…99 → …00) while being read: the log is ordered by number,
    // not by the text the versions are read as (a read that put "1000" before "999" delivered the
    // events after 999 twice and out of order).
    const now = BigInt(await store.currentResourceVersion());
    let decade = 10n;
    while (decade < now + 30n) decade *= 10n;
    await database.pool.query(`UPDATE resource_version_counter SET value = $1 WHERE id = 1`, [String(decade - 10n)]);
    const { feed, close } = await startFeed({ pollIntervalMs: 50 });
    const seen: WatchEventRecord[] = [];
    feed.subscribe((events) => seen.push(...events));
    const start = BigInt(await store.currentResourceVersion());
    // Concurrent writers: versions must still arrive in order with no gaps in what was committed.
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.create(MODEL, model(`w${i}`))));
    const a = await store.get(MODEL, "acme", "w0");
    await store.delete(MODEL, a!);
    await expect.poll(() => seen.length, { timeout: 5_000 }).toBe(21);
    const rvs = seen.map((e) => e.resourceVersion);
    expect([...rvs].sort((x, y) => (x < y ? -1 : 1))).toEqual(rvs);
    expect(seen.at(-1)).toMatchObject({ type: "DELETED", name: "w0" });
    expect(seen.at(-1)!.object.metadata.resourceVersion).toBe(String(rvs.at(-1)));

    const backlog = await feed.backlog(start, "Model", feed.resourceVersion);
    expect(backlog).toHaveLength(21);
    await feed.compact(new Date(Date.now() + 60 * 60_000));
    await expect(feed.backlog(start, "Model", feed.resourceVersion)).rejects.toMatchObject({ reason: "Gone" });
    await close();
  });

  it("isolates its listeners: one that throws is dropped or handles it itself; the others get every change", async () => {
    const feedErrors: Error[] = [];
    const listenerErrors: unknown[] = [];
    const { feed, close } = await startFeed({ pollIntervalMs: 20, onError: (err) => feedErrors.push(err), onListenerError: (err) => listenerErrors.push(err) });
    const before: string[] = [];
    const after: string[] = [];
    let thrower = 0;
    let handled = 0;
    const ownErrors: unknown[] = [];
    feed.subscribe((events) => before.push(...events.map((e) => e.name)));
    feed.subscribe(() => {
      thrower++;
      throw new Error("a listener's own bug");
    });
    feed.subscribe(
      () => {
        handled++;
        throw new Error("handled by its owner");
      },
      { onError: (err) => ownErrors.push(err) },
    );
    feed.subscribe((events) => after.push(...events.map((e) => e.name)));
    await store.create(MODEL, model("iso-1"));
    await expect.poll(() => after, { timeout: 5_000 }).toEqual(["iso-1"]);
    await store.create(MODEL, model("iso-2"));
    await expect.poll(() => after, { timeout: 5_000 }).toEqual(["iso-1", "iso-2"]);
    expect(before).toEqual(["iso-1", "iso-2"]);
    // Dropped after its first throw, reported once; the one with its own handler stays subscribed.
    expect(thrower).toBe(1);
    expect(listenerErrors.map((e) => (e as Error).message)).toEqual(["a listener's own bug"]);
    expect(handled).toBe(2);
    expect(ownErrors.map((e) => (e as Error).message)).toEqual(["handled by its owner", "handled by its owner"]);
    // Not the feed's failure: nothing was missed, so nobody is told to re-list.
    expect(feedErrors).toEqual([]);
    await close();
  });

  it("moves on while nobody listens, and a later watcher misses nothing", async () => {
    const { feed, close } = await startFeed({ pollIntervalMs: 20 });
    await store.create(MODEL, model("idle-1"));
    await store.create(MODEL, model("idle-2"));
    const top = BigInt(await store.currentResourceVersion());
    await expect.poll(() => feed.resourceVersion, { timeout: 5_000 }).toBe(top);
    // A watcher subscribes and starts from a version before the idle stretch (a resume).
    const seen: WatchEventRecord[] = [];
    feed.subscribe((events) => seen.push(...events));
    const backlog = await feed.backlog(top - 2n, "Model", feed.resourceVersion);
    expect(backlog.map((e) => e.name)).toEqual(["idle-1", "idle-2"]);
    await store.create(MODEL, model("live"));
    await expect.poll(() => seen.map((e) => e.name), { timeout: 5_000 }).toEqual(["live"]);
    await close();
  });
});
