// The API's watch cache: what it answers is what Postgres holds at the moment of the call, for
// writes made by any connection (another process), through every write path.
import { afterEach, describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { useTestStore } from "@eiaas/testing";
import { bulkUpdateStatus } from "./bulk-status.js";
import type { Informer } from "./informer.js";
import { CachedObject, ObjectCache, objectCacheInformer } from "./object-cache.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const ISVC = kindInfo("InferenceService");
const TASK = kindInfo("Task");
const EVENT = kindInfo("Event");

const fx = useTestStore();

let opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.reverse()) await close();
  opened = [];
});

/** A cache on its own informer (and its pool), as in the API process; writes in the tests use fx.store's pool. */
async function startCache(): Promise<{ cache: ObjectCache; informer: Informer<CachedObject> }> {
  // A long poll period: only sync() (or a NOTIFY) brings the cache up to date in these tests.
  const informer = objectCacheInformer({ databaseUrl: fx.tdb.url, pollIntervalMs: 60_000 });
  await informer.start();
  const cache = new ObjectCache({ informer });
  await cache.start();
  opened.push(async () => {
    cache.stop();
    await informer.close();
  });
  return { cache, informer };
}

const service = (name: string) => fx.store.create(ISVC, { apiVersion: API_VERSION, metadata: { name, namespace: "acme", labels: { app: name } }, spec: { model: "m" } } as any);

describe("ObjectCache", () => {
  it("starts from what is stored and answers exactly what a read of Postgres gives after every write", async () => {
    await fx.store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: "acme" }, spec: {} } as any);
    const before = await service("before");
    const { cache } = await startCache();
    expect((await cache.get(ISVC, "acme", "before"))?.object).toEqual(before);

    // Each write is read back at once: no waiting for a notification.
    for (let i = 0; i < 10; i++) {
      const created = await service(`s${i}`);
      expect((await cache.get(ISVC, "acme", `s${i}`))?.object).toEqual(await fx.store.get(ISVC, "acme", `s${i}`));
      const updated = await fx.store.update(ISVC, created, { ...created, spec: { model: `m${i}` } });
      const got = await cache.get(ISVC, "acme", `s${i}`);
      expect(got?.object.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
      // Printed as a read of the row prints it, key for key.
      expect(got!.json).toBe(JSON.stringify(await fx.store.get(ISVC, "acme", `s${i}`)));
    }

    // Status writes, batched status writes, cluster-scoped kinds, Events, deletes.
    const s0 = (await fx.store.get(ISVC, "acme", "s0"))!;
    await fx.store.updateStatus(ISVC, s0, { phase: "Running" });
    expect((await cache.get(ISVC, "acme", "s0"))?.object).toEqual(await fx.store.get(ISVC, "acme", "s0"));
    const task = await fx.store.create(TASK, {
      apiVersion: API_VERSION,
      metadata: { name: "t1", namespace: "acme" },
      spec: { nodeName: "e1", role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } },
      status: { phase: "Scheduled", attempt: 1 },
    } as any);
    await bulkUpdateStatus(fx.db.pool, TASK, [{ object: task, status: { ...task.status, phase: "Running" } }]);
    expect((await cache.get(TASK, "acme", "t1"))?.object).toEqual(await fx.store.get(TASK, "acme", "t1"));
    await fx.store.create(NODE, { apiVersion: API_VERSION, metadata: { name: "e1" }, spec: { tier: "edge", capacity: { cpu: 1000, memoryMiB: 1024, gpu: 0 } } } as any);
    expect((await cache.get(NODE, undefined, "e1"))?.object).toEqual(await fx.store.get(NODE, undefined, "e1"));
    await fx.store.create(EVENT, {
      apiVersion: API_VERSION,
      kind: "Event",
      metadata: { name: "ev1", namespace: "acme" },
      reason: "Scheduled",
      message: "hello",
      type: "Normal",
      involvedObject: { kind: "InferenceService", name: "s0", namespace: "acme" },
    } as any);
    expect((await cache.get(EVENT, "acme", "ev1"))?.object).toEqual(await fx.store.get(EVENT, "acme", "ev1"));

    await fx.store.delete(ISVC, (await fx.store.get(ISVC, "acme", "s1"))!);
    expect(await cache.get(ISVC, "acme", "s1")).toBeNull();
    expect(await cache.get(ISVC, "other", "s2")).toBeNull();
    expect(await cache.get(ISVC, "acme", "never")).toBeNull();
  });

  it("shares log reads among concurrent readers, and each still sees the writes committed before it asked", async () => {
    const { cache, informer } = await startCache();
    const queries: string[] = [];
    const pool = informer.pool as unknown as { query: (...a: unknown[]) => unknown };
    const query = pool.query.bind(pool);
    pool.query = (...args: unknown[]) => {
      const q = args[0] as string | { text: string };
      queries.push(typeof q === "string" ? q : q.text);
      return query(...args);
    };
    const s = await service("a");
    const reads = await Promise.all(Array.from({ length: 200 }, () => cache.get(ISVC, "acme", "a")));
    for (const r of reads) expect(r?.object.metadata.resourceVersion).toBe(s.metadata.resourceVersion);
    const logReads = queries.filter((q) => q.includes("FROM watch_events")).length;
    expect(logReads).toBeGreaterThan(0);
    expect(logReads).toBeLessThan(20);
  });

  it("lists again when told the feed may have missed changes, and refuses to answer once it cannot catch up", async () => {
    const { cache, informer } = await startCache();
    await service("a");
    expect((await cache.get(ISVC, "acme", "a"))?.object.spec.model).toBe("m");
    // A change the log never saw (written around the store): only a re-list finds it.
    await fx.db.pool.query(`UPDATE inference_services SET spec = '{"model":"changed"}' WHERE name = 'a'`);
    expect((await cache.get(ISVC, "acme", "a"))?.object.spec.model).toBe("m");
    cache.invalidate();
    expect((await cache.get(ISVC, "acme", "a"))?.object.spec.model).toBe("changed");

    await informer.close();
    await expect(cache.get(ISVC, "acme", "a")).rejects.toThrow(/closed/);
  });
});
