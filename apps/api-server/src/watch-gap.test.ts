// A watch whose feed lost part of the log (compacted before the informer read it, as after an
// outage longer than the retention) ends with 410 instead of streaming on past the hole.
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { ChangeFeed, createDatabase, objectCacheInformer, ObjectStore, type CachedObject, type Database, type Informer } from "@eiaas/db";
import { createTestDatabase, type TestDatabase } from "@eiaas/testing";
import { serveWatch } from "./routes/watch.js";

const MODEL = kindInfo("Model");

let db: TestDatabase;
let database: Database;
let store: ObjectStore;
let informer: Informer<CachedObject>;
let feed: ChangeFeed;
let server: http.Server;
let base: string;

beforeAll(async () => {
  db = await createTestDatabase();
  database = createDatabase(db.url);
  store = new ObjectStore(database.pool);
  // No LISTEN and no poll: the log is read only when the test says so, so it can be compacted first.
  informer = objectCacheInformer({ pool: database.pool, pollIntervalMs: 0 });
  await informer.start();
  feed = new ChangeFeed({ informer, compactIntervalMs: 0 });
  const app = express();
  app.get("/watch", (req, res, next) => {
    serveWatch(req, res, { store, feed }, { kind: MODEL, access: {}, selectors: { labels: [], fields: [] }, allowBookmarks: false, onError: () => undefined }).catch(next);
  });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await informer?.close();
  await database?.close();
  await db?.drop();
});

const model = (name: string) => ({
  apiVersion: API_VERSION,
  metadata: { name, namespace: "acme" },
  spec: { inputBytes: 1, accuracy: 0.5, layers: [{ name: "l1", flops: 1, outputBytes: 1, memoryMiB: 0 }] },
});

/** Opens a watch; collects its lines until the server ends it. */
function openWatch(): Promise<{ lines: Array<{ type: string; object: any }>; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}/watch`, (res) => {
        const lines: Array<{ type: string; object: any }> = [];
        let buffer = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffer += chunk;
          for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
            lines.push(JSON.parse(buffer.slice(0, i)));
            buffer = buffer.slice(i + 1);
          }
        });
        resolve({ lines, ended: new Promise((r) => res.on("end", () => r())) });
      })
      .on("error", reject);
  });
}

describe("a watch over a feed that lost part of the log", () => {
  it("streams what it read, then ends with a 410 ERROR event instead of skipping the compacted changes", async () => {
    await store.create(MODEL, model("listed") as any);
    const watch = await openWatch();
    await expect.poll(() => watch.lines.map((l) => `${l.type} ${l.object.metadata.name}`)).toEqual(["ADDED listed"]);
    await store.create(MODEL, model("live") as any);
    await feed.sync();
    await expect.poll(() => watch.lines.length).toBe(2);
    // Written and compacted away before the informer read them.
    await store.create(MODEL, model("missed") as any);
    await feed.compact(new Date(Date.now() + 60 * 60_000));
    await store.create(MODEL, model("after") as any);
    await feed.sync();
    await watch.ended;
    expect(watch.lines.map((l) => l.type)).toEqual(["ADDED", "ADDED", "ERROR"]);
    expect(watch.lines[2]!.object).toMatchObject({ kind: "Status", code: 410, reason: "Expired" });
  });
});
