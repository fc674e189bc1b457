// Test-only: an API app (apps/api-server's createApiApp and its controllers) in this process, over
// this test file's own cloned database. Imported as `@eiaas/testing/api-server`, apart from the
// package's index: tests of the libraries below the API server do not load it.
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import http from "node:http";
import { ArtifactStore, ChangeFeed, createDatabase, ObjectCache, objectCacheInformer, ObjectStore, TokenStore, type CachedObject, type Informer } from "@eiaas/db";
import { createLogger, type Logger } from "@eiaas/telemetry";
import { createPostgresLeaseStore } from "@eiaas/queue";
import { createApiApp, NamespaceController, PropagationController, type ApiAppDeps } from "@eiaas/api-server";
import { createTestDatabase, type TestDatabase } from "./database.js";

export interface TestApi {
  /** What the server calls (cached GETs, then the routed API): hand it to supertest. */
  app: ReturnType<typeof createApiApp>["handler"];
  /** The routed API alone (no cached GETs, no direct status writes), to compare the two paths. */
  routed: ReturnType<typeof createApiApp>["app"];
  cache: ObjectCache;
  /** Where the app keeps Models' artifacts. */
  artifacts: ArtifactStore;
  /** The app's deleter of heads of exits removed from Models. */
  exitHeads: ReturnType<typeof createApiApp>["exitHeads"];
  /** The app's pool on the test database. */
  pool: import("pg").Pool;
  db: TestDatabase;
  store: ObjectStore;
  tokens: TokenStore;
  feed: ChangeFeed;
  /** The informer the cache and the feed read. */
  informer: Informer<CachedObject>;
  adminToken: string;
  namespaces: NamespaceController;
  /** Finishes Foreground and Orphan deletes (a pass every 200 ms, and on writes). */
  propagation: PropagationController;
  /** A tenant token for the live Tenant `tenant` (it must exist: a token belongs to its uid). */
  tenantToken(tenant: string): Promise<string>;
  /** Listens on a real socket (for watch streams); returns the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface TestApiOverrides extends Partial<
  Pick<ApiAppDeps, "rateLimit" | "maxBodyBytes" | "maxArtifactBytes" | "bookmarkIntervalMs" | "queueCredentials" | "metricsAuth" | "metricsToken" | "admission" | "now">
> {
  /** A database of the caller's (e.g. on a Postgres the test stops); default a clone of the template. */
  database?: TestDatabase;
  /** Keep Models' artifacts in this directory (EIAAS_ARTIFACT_DIR). Default: in Postgres. */
  artifactDir?: string;
  /** The store's object size limit. Default the store's (1.5 MiB). */
  maxObjectBytes?: number;
  /** Leave the database to the caller on close (another TestApi shares it). Default false. */
  keepDatabase?: boolean;
  /** The app's logger. Default a silent one (EIAAS_LOG_LEVEL sets its level). */
  logger?: Logger;
}

export async function startTestApi(overrides: TestApiOverrides = {}): Promise<TestApi> {
  const db = overrides.database ?? (await createTestDatabase());
  const database = createDatabase(db.url, { poolSize: 5 });
  const { prisma } = database;
  const store = new ObjectStore(database.pool, overrides.maxObjectBytes !== undefined ? { maxObjectBytes: overrides.maxObjectBytes } : {});
  const tokens = new TokenStore(prisma);
  // Frozen: a handler that mutated a shared cached object would corrupt every later read.
  const informer = objectCacheInformer({ databaseUrl: db.url, pollIntervalMs: 100, freeze: true });
  await informer.start();
  const feed = new ChangeFeed({ informer });
  feed.start();
  const cache = new ObjectCache({ informer });
  await cache.start();
  const artifacts = new ArtifactStore(database.pool, overrides.artifactDir ? { directory: overrides.artifactDir } : {});
  const logger = overrides.logger ?? createLogger({ name: "api-server", level: process.env.EIAAS_LOG_LEVEL ?? "silent" });
  const namespaces = new NamespaceController({ store, tokens, logger, intervalMs: 200 });
  const propagation = new PropagationController({ store, logger, intervalMs: 200 });
  propagation.start();
  const {
    handler: app,
    app: routed,
    authenticator,
    exitHeads,
    stop,
  } = createApiApp({
    prisma,
    pool: database.pool,
    store,
    tokens,
    feed,
    logger,
    maxBodyBytes: overrides.maxBodyBytes ?? 1024 * 1024,
    artifacts,
    ...(overrides.maxArtifactBytes !== undefined ? { maxArtifactBytes: overrides.maxArtifactBytes } : {}),
    rateLimit: overrides.rateLimit ?? { qps: 1000, burst: 1000 },
    ...(overrides.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: overrides.bookmarkIntervalMs } : {}),
    ...(overrides.queueCredentials ? { queueCredentials: overrides.queueCredentials } : {}),
    ...(overrides.metricsAuth !== undefined ? { metricsAuth: overrides.metricsAuth } : {}),
    ...(overrides.metricsToken !== undefined ? { metricsToken: overrides.metricsToken } : {}),
    ...(overrides.admission ? { admission: overrides.admission } : {}),
    ...(overrides.now ? { now: overrides.now } : {}),
    leases: createPostgresLeaseStore(database.pool),
    cache,
    onWrite: (kind, obj, type) => {
      if (kind.kind === "Tenant" && type !== "create") void namespaces.kick();
      propagation.noteWrite(kind, obj, type);
    },
  });
  void authenticator;
  // Named apart per instance: two TestApis may share a database (two API servers).
  const admin = await tokens.mint({ role: "admin", name: `test-admin-${randomBytes(4).toString("hex")}` });
  const servers: http.Server[] = [];
  return {
    app,
    routed,
    cache,
    artifacts,
    exitHeads,
    pool: database.pool,
    db,
    store,
    tokens,
    feed,
    informer,
    adminToken: admin.token,
    namespaces,
    propagation,
    tenantToken: async (tenant) => (await tokens.mint({ role: "tenant", tenant })).token,
    listen: async () => {
      const server = http.createServer(app);
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
      namespaces.stop();
      await propagation.stop();
      stop();
      cache.stop();
      feed.close();
      await informer.close();
      await database.close();
      if (!overrides.keepDatabase) await db.drop();
    },
  };
}
