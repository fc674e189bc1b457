// startApiServer with REDIS_URL keeps BullMQ's scripts in Redis' script cache: agents' Redis users
// may only run them by SHA-1 (no EVAL), so a Redis that restarted or was flushed would otherwise
// leave every agent unable to fetch or finish a job. A Redis of this file's own: it is flushed and
// restarted.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, it } from "vitest";
import { queueScripts } from "@eiaas/queue";
import { createTestDatabase, startRedis, type RunningRedis, type TestDatabase } from "@eiaas/testing";
import { apiServerEnv } from "./config.js";
import { startApiServer, type RunningApiServer } from "./server.js";

let db: TestDatabase;
let dataDir: string;
let redis: RunningRedis;
let admin: Redis;
let server: RunningApiServer;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  admin.on("error", () => undefined);
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), "eiaas-api-scripts-"));
  const env = apiServerEnv.parse({
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    EIAAS_PORT: "0",
    EIAAS_HOST: "127.0.0.1",
    EIAAS_DATA_DIR: dataDir,
    EIAAS_ADMIN_TOKEN: randomBytes(24).toString("base64url"),
    EIAAS_LOG_LEVEL: "silent",
  });
  server = await startApiServer(env);
});

afterAll(async () => {
  await server?.close();
  admin?.disconnect();
  await redis?.stop();
  await db?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Polls until every BullMQ script is cached (the keeper checks every 5 s, and on reconnect). */
async function waitForAllCached(what: string): Promise<void> {
  const shas = (await queueScripts()).map((s) => s.sha);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const cached = (await admin.call("SCRIPT", "EXISTS", ...shas).catch(() => [])) as number[];
    if (cached.length === shas.length && cached.every((x) => x === 1)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it("loads BullMQ's scripts into Redis at start, after SCRIPT FLUSH and after a restart", async () => {
  await waitForAllCached("the scripts after start");
  await admin.call("SCRIPT", "FLUSH");
  await waitForAllCached("the scripts after SCRIPT FLUSH");
  await redis.restart();
  await waitForAllCached("the scripts after the restart");
}, 60_000);
