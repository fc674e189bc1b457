import { existsSync } from "node:fs";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import type { RequestListener } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import {
  ArtifactStore,
  applyMigrations,
  ChangeFeed,
  createDatabase,
  ensureDatabase,
  freePort,
  isUnavailableError,
  generateTokenSecret,
  ObjectCache,
  objectCacheInformer,
  ObjectStore,
  startEmbeddedPostgres,
  TokenStore,
  type CachedObject,
  type Informer,
  type PrismaClient,
  type RunningPostgres,
} from "@eiaas/db";
import { createLogger, withTimeout, type Logger } from "@eiaas/telemetry";
import type { LeaseStore, QueueBackend } from "@eiaas/queue";
import { createApiApp, type ApiAppDeps } from "./app.js";
import type { ApiServerEnv } from "./config.js";
import { NamespaceController } from "./namespace-controller.js";
import { PropagationController } from "./propagation-controller.js";
import { EventCollector } from "./event-collector.js";
import { ensureServingCertificate, loadTlsFromFiles, type ServingCertificate } from "./tls.js";
import { openServerQueues, queueSideOfWrite } from "./server-queues.js";
import { parseTrustedProxies } from "./http/client-address.js";
import { OutageLog } from "./http/outage-log.js";
import type { ExitHeadJanitor } from "./artifacts/exit-heads.js";

/** How often unused model artifacts are looked for. */
const ARTIFACT_GC_INTERVAL_MS = 10 * 60 * 1000;

export interface RunningApiServer {
  url: string;
  port: number;
  databaseUrl: string;
  /** Where the embedded PostgreSQL's files are (none with DATABASE_URL). */
  embeddedClusterDir?: string;
  tls: ServingCertificate;
  /** Set when this process generated the first admin token (shown once). */
  generatedAdminToken?: string;
  prisma: PrismaClient;
  pool: import("pg").Pool;
  store: ObjectStore;
  queue: QueueBackend;
  leases: LeaseStore;
  tokens: TokenStore;
  logger: Logger;
  service: ReturnType<typeof createApiApp>["service"];
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Extra wiring of the app (dryRun planner, write hooks) supplied by the caller. */
  app?: Pick<ApiAppDeps, "dryRunPlanner" | "onWrite" | "readinessChecks">;
}

/** The embedded default: a real PostgreSQL in `<dataDir>/postgres` when no DATABASE_URL is given. */
export async function resolveDatabase(env: ApiServerEnv, logger: Logger): Promise<{ url: string; embedded?: RunningPostgres }> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL };
  const dataDir = resolve(env.EIAAS_DATA_DIR, "postgres");
  // The port is internal to this process tree: any free one will do unless pinned.
  const port = env.EIAAS_EMBEDDED_PG_PORT ?? (await freePort());
  logger.info({ dataDir, port }, "no DATABASE_URL: starting embedded PostgreSQL");
  const embedded = await startEmbeddedPostgres({ dataDir, port, persistent: true, ...(env.EIAAS_EMBEDDED_PG_SHARED_DIR ? { sharedDir: env.EIAAS_EMBEDDED_PG_SHARED_DIR } : {}) });
  if (embedded.clusterDir !== dataDir) logger.info({ dataDir, clusterDir: embedded.clusterDir }, "the postgres OS user cannot reach the data directory: the cluster is kept elsewhere, linked from it");
  await ensureDatabase(embedded.url("postgres"), "eiaas");
  return { url: embedded.url("eiaas"), embedded };
}

/** The admin token: EIAAS_ADMIN_TOKEN, else one generated when the database has none (returned, to show once). */
async function ensureAdminToken(tokens: TokenStore, fromEnv: string | undefined): Promise<string | undefined> {
  if (fromEnv) {
    await tokens.ensureAdminToken(fromEnv);
    return undefined;
  }
  if (await tokens.hasAdminToken()) return undefined;
  const generated = generateTokenSecret();
  await tokens.ensureAdminToken(generated);
  return generated;
}

/** The process's one informer, the watchers' feed and the object cache it keeps current, with the controllers that follow writes. */
async function startWatchers(env: ApiServerEnv, databaseUrl: string, database: { pool: import("pg").Pool }, store: ObjectStore, tokens: TokenStore, logger: Logger) {
  // One log of a database outage for the requests answered 503 and the informer's failed reads.
  const outage = new OutageLog({ logger, probe: () => database.pool.query("SELECT 1") });
  // The process's one informer: the watch cache, the watchers' feed and the planning reads read it.
  const informer: Informer<CachedObject> = objectCacheInformer({
    databaseUrl,
    onError: (err) => {
      if (isUnavailableError(err)) outage.note(err);
      else logger.warn({ err }, "informer");
      // It may have missed changes: the cache lists again before it answers.
      informer.invalidate();
    },
    // A watcher's own exception ends that watcher alone; the cache and other watchers go on.
    onListenerError: (err) => logger.error({ err }, "an informer handler threw; it was dropped"),
  });
  await informer.start();
  const feed = new ChangeFeed({ informer, onError: (err) => logger.warn({ err }, "watch log compaction") });
  feed.start();
  const cache = new ObjectCache({ informer });
  await cache.start();
  const namespaces = new NamespaceController({ store, tokens, logger });
  namespaces.start();
  const propagation = new PropagationController({ store, logger });
  propagation.start();
  const eventCollector = new EventCollector({ store, pool: database.pool, logger, ttlMs: env.EIAAS_EVENT_TTL_SECONDS * 1000 });
  eventCollector.start();
  return { outage, informer, feed, cache, namespaces, propagation, eventCollector };
}

/**
 * Removes what no Model's artifact uses, every ARTIFACT_GC_INTERVAL_MS: heads of exits removed from
 * their Model (that a server stopping midway left), files of deleted Models (their rows went with
 * them) and what uploads that died with their server left behind.
 */
function collectArtifactGarbage(artifacts: ArtifactStore, exitHeads: ExitHeadJanitor, logger: Logger): NodeJS.Timeout {
  const timer = setInterval(() => {
    exitHeads
      .sweep()
      .then((heads) => artifacts.collectGarbage().then((n) => ({ ...n, exitHeads: heads })))
      .then(
        (n) => {
          if (n.blobs + n.files + n.exitHeads > 0) logger.info(n, "removed unused model artifacts");
        },
        (err: Error) => logger.warn({ err }, "model artifact garbage collection"),
      );
  }, ARTIFACT_GC_INTERVAL_MS);
  timer.unref();
  return timer;
}

/** The app's settings from the environment (limits, admission defaults, rate limits, metrics). */
function appSettings(env: ApiServerEnv): Pick<ApiAppDeps, "maxBodyBytes" | "maxArtifactBytes" | "admission" | "rateLimit" | "metricsAuth" | "metricsToken"> {
  return {
    maxBodyBytes: env.EIAAS_MAX_BODY_BYTES,
    maxArtifactBytes: env.EIAAS_MAX_ARTIFACT_BYTES,
    admission: { maxPriority: env.EIAAS_DEFAULT_MAX_PRIORITY, countQuota: env.EIAAS_DEFAULT_COUNT_QUOTA },
    rateLimit: {
      qps: env.EIAAS_RATE_LIMIT_QPS,
      burst: env.EIAAS_RATE_LIMIT_BURST,
      limitAdmins: env.EIAAS_RATE_LIMIT_ADMINS,
      failedAuth: { qps: env.EIAAS_AUTH_FAILURE_QPS, burst: env.EIAAS_AUTH_FAILURE_BURST },
      trustedProxies: parseTrustedProxies(env.EIAAS_TRUSTED_PROXIES),
    },
    metricsAuth: env.EIAAS_METRICS_AUTH,
    ...(env.EIAAS_METRICS_TOKEN ? { metricsToken: env.EIAAS_METRICS_TOKEN } : {}),
  };
}

/** The HTTPS listener: the given certificate, else one from the CA generated into the data directory. */
async function listenHttps(env: ApiServerEnv, handler: RequestListener, logger: Logger) {
  const tls =
    env.EIAAS_TLS_CERT && env.EIAAS_TLS_KEY
      ? await loadTlsFromFiles(env.EIAAS_TLS_CERT, env.EIAAS_TLS_KEY)
      : await ensureServingCertificate({
          dataDir: env.EIAAS_DATA_DIR,
          // The address it listens on is one clients use (the URL it reports names it).
          hosts: [...env.EIAAS_TLS_SANS.split(",").filter(Boolean), ...(isWildcard(env.EIAAS_HOST) ? [] : [env.EIAAS_HOST])],
        });
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, handler);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(env.EIAAS_PORT, env.EIAAS_HOST, () => res());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${reachableHost(env.EIAAS_HOST)}:${port}`;
  logger.info({ url }, "API server listening");
  return { tls, server, port, url };
}

/** Stops accepting and ends the open connections; watches are long-lived, so they are cut after 2 s. */
function closeServer(server: https.Server): Promise<void> {
  return new Promise<void>((r) => {
    server.close(() => r());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  });
}

/** The database (embedded when none is configured), migrated, and a pool on it. */
async function openDatabase(env: ApiServerEnv, logger: Logger) {
  await mkdir(env.EIAAS_DATA_DIR, { recursive: true });
  const db = await resolveDatabase(env, logger);
  const migrations = await applyMigrations(db.url);
  if (migrations.applied.length) logger.info({ applied: migrations.applied }, "migrations applied");
  return { db, database: createDatabase(db.url, { poolSize: 20 }) };
}

/**
 * Starts the API server: database (embedded when none is configured), migrations, admin token,
 * TLS (generated CA when none is given), HTTPS listener and the namespace controller.
 */
export async function startApiServer(env: ApiServerEnv, options: StartOptions = {}): Promise<RunningApiServer> {
  const logger = options.logger ?? createLogger({ name: "api-server", level: env.EIAAS_LOG_LEVEL });
  const { db, database } = await openDatabase(env, logger);
  const { prisma } = database;
  const store = new ObjectStore(database.pool, { maxObjectBytes: env.EIAAS_MAX_OBJECT_BYTES });
  const tokens = new TokenStore(prisma);
  const generatedAdminToken = await ensureAdminToken(tokens, env.EIAAS_ADMIN_TOKEN);
  const queues = openServerQueues(env, db.url, database.pool, logger);
  const { redis, queue, hints, leases, scripts, queueCredentials } = queues;
  if (env.EIAAS_BOOTSTRAP_TOKEN) await tokens.ensureBootstrapToken(env.EIAAS_BOOTSTRAP_TOKEN);

  const { outage, informer, feed, cache, namespaces, propagation, eventCollector } = await startWatchers(env, db.url, database, store, tokens, logger);
  const artifacts = new ArtifactStore(database.pool, env.EIAAS_ARTIFACT_DIR ? { directory: env.EIAAS_ARTIFACT_DIR } : {});
  const queueSide = queueSideOfWrite(queues, logger);

  const { handler, service, exitHeads } = createApiApp({
    prisma,
    pool: database.pool,
    store,
    tokens,
    feed,
    logger,
    artifacts,
    ...appSettings(env),
    ...options.app,
    // Redis is a dependency when configured (queues, leases): /readyz fails while it is away.
    readinessChecks: [...(redis ? [async () => void (await withTimeout(redis.ping(), 2_000, "redis"))] : []), ...(options.app?.readinessChecks ?? [])],
    leases,
    cache,
    outage,
    ...(queueCredentials ? { queueCredentials } : {}),
    onWrite: (kind, obj, type) => {
      if (kind.kind === "Tenant" && type !== "create") void namespaces.kick();
      propagation.noteWrite(kind, obj, type);
      queueSide(kind, obj, type);
      options.app?.onWrite?.(kind, obj, type);
    },
  });
  const artifactGc = collectArtifactGarbage(artifacts, exitHeads, logger);
  const { tls, server, port, url } = await listenHttps(env, handler, logger);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      namespaces.stop();
      const propagationStopped = propagation.stop();
      eventCollector.stop();
      clearInterval(artifactGc);
      outage.stop();
      scripts?.stop();
      await closeServer(server);
      cache.stop();
      feed.close();
      await informer.close();
      await hints.flush();
      await propagationStopped;
      await queue.close({ force: true }).catch(() => undefined);
      await leases.close().catch(() => undefined);
      redis?.disconnect();
      await database.close();
      await db.embedded?.stop();
    })());
  return {
    url,
    port,
    databaseUrl: db.url,
    ...(db.embedded ? { embeddedClusterDir: db.embedded.clusterDir } : {}),
    tls,
    ...(generatedAdminToken ? { generatedAdminToken } : {}),
    prisma,
    pool: database.pool,
    store,
    queue,
    leases,
    tokens,
    logger,
    service,
    close,
  };
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "";
}

/** Where clients on this machine reach a server listening on `host`: loopback for the wildcards. */
function reachableHost(host: string): string {
  if (isWildcard(host)) return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

/** The admin token the demo uses: EIAAS_ADMIN_TOKEN, else one kept in `<dataDir>/admin-token`. */
export async function demoAdminToken(dataDir: string, fromEnv?: string): Promise<string> {
  if (fromEnv) return fromEnv;
  const file = join(dataDir, "admin-token");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  const token = generateTokenSecret();
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return token;
}
