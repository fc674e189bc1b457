import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, testRedisUrl, type TestDatabase } from "@eiaas/testing";
import type { LeaseStore } from "./lease.js";
import { createPostgresLeaseStore } from "./lease-postgres.js";
import { createRedisLeaseStore } from "./lease-redis.js";
import { flushDb, withDb } from "./test-support.js";

const t = (s: number) => new Date(Date.UTC(2026, 10, 26, 12, 0, s));

function leaseContract(label: string, open: () => Promise<{ store: LeaseStore; close(): Promise<void> }>) {
  describe(`${label} lease store`, () => {
    let store: LeaseStore;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ store, close } = await open());
    });
    afterAll(async () => {
      await store?.close();
      await close?.();
    });

    it("renews, reads and never moves a lease back in time", async () => {
      expect(await store.get("edge-1")).toBeUndefined();
      await store.renew("edge-1", "agent-a", t(10));
      expect(await store.get("edge-1")).toEqual({ nodeName: "edge-1", holder: "agent-a", renewTime: t(10) });
      await store.renew("edge-1", "agent-b", t(20));
      await store.renew("edge-1", "agent-late", t(15));
      expect(await store.get("edge-1")).toEqual({ nodeName: "edge-1", holder: "agent-b", renewTime: t(20) });
    });

    it("lists the leases older than a cut-off as expired", async () => {
      await store.renew("dev-1", "d1", t(5));
      await store.renew("dev-2", "d2", t(30));
      await store.renew("dev-3", "d3", t(12));
      // A lease renewed exactly at the cut-off is still valid.
      expect((await store.listExpired(t(12))).map((l) => l.nodeName)).toEqual(["dev-1"]);
      expect(await store.listExpired(t(21))).toEqual([
        { nodeName: "dev-1", holder: "d1", renewTime: t(5) },
        { nodeName: "dev-3", holder: "d3", renewTime: t(12) },
        { nodeName: "edge-1", holder: "agent-b", renewTime: t(20) },
      ]);
      // Renewing moves a node out of the expired set.
      await store.renew("dev-1", "d1", t(40));
      expect((await store.listExpired(t(21))).map((l) => l.nodeName)).toEqual(["dev-3", "edge-1"]);
      expect((await store.getAll()).map((l) => l.nodeName)).toEqual(["dev-3", "edge-1", "dev-2", "dev-1"]);
    });

    it("forgets a deleted node", async () => {
      await store.delete("dev-2");
      expect(await store.get("dev-2")).toBeUndefined();
      expect((await store.getAll()).map((l) => l.nodeName)).not.toContain("dev-2");
    });
  });
}

// Database 51 of the shared test Redis belongs to this file.
leaseContract("redis", async () => {
  const url = withDb(testRedisUrl(), 51);
  await flushDb(url);
  const redis = new Redis(url);
  return { store: createRedisLeaseStore(redis), close: async () => redis.disconnect() };
});

leaseContract("postgres", async () => {
  const db: TestDatabase = await createTestDatabase();
  return { store: createPostgresLeaseStore(db.url), close: () => db.drop() };
});
