// The one informer: list, then tail the log; a gap in the log (compacted away before it was read)
// makes it list again and tells its consumers; a dropped LISTEN connection delays nothing past the
// polling fallback, and the connection comes back.
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { kindInfo } from "@eiaas/api";
import { useTestStore, type TestDatabase } from "@eiaas/testing";
import { ChangeFeed } from "./change-feed.js";
import type { Database } from "./client.js";
import type { StoredObject } from "./codec.js";
import { Informer, type RelistInfo } from "./informer.js";
import { objectCacheInformer, ObjectCache } from "./object-cache.js";
import { ObjectStore } from "./object-store.js";
import { compactLog, type WatchEventRecord } from "./watch-log.js";

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

const names = (it: Iterable<StoredObject>) => [...it].map((o) => o.metadata.name).sort();

describe("Informer", () => {
  it("lists again when the log after its cursor was compacted away, and tells its consumers (watchers end, caches answer what Postgres holds)", async () => {
    // No LISTEN, no poll: it reads only when asked, so the log can be compacted under it.
    const informer = new Informer<StoredObject>({ pool: database.pool, kinds: [MODEL], transform: (_k, o) => o, pollIntervalMs: 0 });
    const relists: RelistInfo[] = [];
    const added: string[] = [];
    informer.addHandlers({ onRelist: (info) => relists.push(info), onAdd: (_k, o) => added.push(o.metadata.name) });
    await store.create(MODEL, model("before"));
    await informer.start();
    expect(relists).toEqual([{ resourceVersion: informer.resourceVersion, gap: false }]);
    await store.create(MODEL, model("tailed"));
    await informer.sync();
    expect(added).toEqual(["tailed"]);
    const cursor = informer.resourceVersion;

    // Written, then compacted away before the informer read them.
    const gone = await store.create(MODEL, model("unread"));
    await store.delete(MODEL, (await store.get(MODEL, "acme", "before"))!);
    await compactLog(database.pool, new Date(Date.now() + 60 * 60_000));
    await informer.sync();
    expect(relists.at(-1)).toEqual({ resourceVersion: BigInt(gone.metadata.resourceVersion) + 1n, gap: true });
    expect(informer.resourceVersion).toBeGreaterThan(cursor);
    expect(names(informer.list(MODEL))).toEqual(names((await store.list(MODEL)).items));
    expect(names(informer.list(MODEL))).toEqual(["tailed", "unread"]);

    // And it goes on tailing from the list.
    await store.create(MODEL, model("after"));
    await informer.sync();
    expect(added).toEqual(["tailed", "after"]);
    await informer.close();
  });

  it("ends the watchers of a feed whose log was compacted before it was read; the cache lists again", async () => {
    const informer = objectCacheInformer({ pool: database.pool, pollIntervalMs: 0 });
    await informer.start();
    const feed = new ChangeFeed({ informer, compactIntervalMs: 0 });
    const cache = new ObjectCache({ informer });
    await cache.start();
    const seen: WatchEventRecord[] = [];
    let gone = 0;
    feed.subscribe((events) => seen.push(...events), { onGone: () => gone++ });
    await store.create(MODEL, model("seen"));
    await feed.sync();
    expect(seen.map((e) => e.name)).toEqual(["seen"]);
    await store.create(MODEL, model("missed"));
    await feed.compact(new Date(Date.now() + 60 * 60_000));
    expect((await cache.get(MODEL, "acme", "missed"))?.object.metadata.name).toBe("missed");
    // The watcher was told and dropped: it never sees a stream with a hole in it.
    expect(gone).toBe(1);
    await store.create(MODEL, model("later"));
    await feed.sync();
    expect(seen.map((e) => e.name)).toEqual(["seen"]);
    cache.stop();
    await informer.close();
  });

  it("keeps delivering by polling while its LISTEN connection is down, and listens again once it can", async () => {
    // LISTEN as a role of its own, so that its connection can be cut and kept from coming back
    // while the informer's reads (on the test's pool) go on.
    const role = `listen_${randomBytes(4).toString("hex")}`;
    await database.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD 'listen'`);
    const url = new URL(db.url);
    url.username = role;
    url.password = "listen";
    const informer = new Informer<StoredObject>({ pool: database.pool, databaseUrl: url.toString(), kinds: [MODEL], transform: (_k, o) => o, pollIntervalMs: 50 });
    const delivered: string[] = [];
    informer.addHandlers({ onEvents: (events) => delivered.push(...events.map((e) => e.name)) }, { eager: true });
    try {
      await informer.start();
      await expect.poll(() => informer.listening, { timeout: 10_000 }).toBe(true);
      await store.create(MODEL, model("listened"));
      await expect.poll(() => delivered, { timeout: 5_000 }).toEqual(["listened"]);

      await database.pool.query(`ALTER ROLE ${role} NOLOGIN`);
      await database.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
      await expect.poll(() => informer.listening, { timeout: 10_000 }).toBe(false);
      await store.create(MODEL, model("polled"));
      await expect.poll(() => delivered, { timeout: 5_000 }).toEqual(["listened", "polled"]);
      expect(informer.listening).toBe(false);

      await database.pool.query(`ALTER ROLE ${role} LOGIN`);
      await expect.poll(() => informer.listening, { timeout: 15_000 }).toBe(true);
    } finally {
      await informer.close();
      await database.pool.query(`DROP ROLE ${role}`);
    }
  });
});
