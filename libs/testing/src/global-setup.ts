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

interface TestServices {
  postgresUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

interface Shared {
  services: Promise<TestServices>;
  users: number;
}

// Vitest calls a global setup once per project (unit and e2e, vitest.config.ts), all in its main
// process: the first call starts Postgres and Redis, later ones share them, the last teardown
// stops them. (Two sets would each cost a Postgres, and a second template would be dropped under
// the first project's clones.)
const SHARED = Symbol.for("eiaas.test-services");
type WithShared = typeof globalThis & { [SHARED]?: Shared };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const g = globalThis as WithShared;
  const shared = (g[SHARED] ??= { services: startServices(), users: 0 });
  shared.users++;
  const services = await shared.services;
  project.provide("postgresUrl", services.postgresUrl);
  project.provide("templateDatabase", TEMPLATE_DB);
  project.provide("redisUrl", services.redisUrl);
  return async () => {
    if (--shared.users > 0) return;
    delete g[SHARED];
    await services.stop();
  };
}

async function startServices(): Promise<TestServices> {
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

  return {
    postgresUrl: serverUrl,
    redisUrl,
    stop: async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    },
  };
}
