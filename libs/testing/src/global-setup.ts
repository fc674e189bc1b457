// Vitest globalSetup: one real Postgres and one real Redis for the whole run. Migrations run once
// into a template database; each test file clones it (see database.ts).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { applyMigrations, ensureDatabase, startEmbeddedPostgres } from "@eiaas/db";
import pg from "pg";
import { freePort } from "./ports.js";
import { startRedis } from "./redis.js";

export const TEMPLATE_DB = "eiaas_template";

declare module "vitest" {
  export interface ProvidedContext {
    /** Server URL (any database) of the test Postgres. */
    postgresUrl: string;
    templateDatabase: string;
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];
  let serverUrl: string;
  if (process.env.DATABASE_URL) {
    serverUrl = process.env.DATABASE_URL;
  } else {
    const dataDir = await mkdtemp(join(tmpdir(), "eiaas-pg-"));
    const server = await startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: false, ephemeral: true, maxConnections: 400 });
    serverUrl = server.url("postgres");
    cleanups.push(async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
  }
  // A fresh template each run, so a changed migration never meets an old template.
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  await admin.end();
  await ensureDatabase(serverUrl, TEMPLATE_DB);
  const templateUrl = new URL(serverUrl);
  templateUrl.pathname = `/${TEMPLATE_DB}`;
  await applyMigrations(templateUrl.toString());

  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const redis = await startRedis();
    redisUrl = redis.url;
    cleanups.push(() => redis.stop());
  }

  project.provide("postgresUrl", serverUrl);
  project.provide("templateDatabase", TEMPLATE_DB);
  project.provide("redisUrl", redisUrl);
  return async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
}
