import express, { type Express, type NextFunction, type Request, type Response } from "express";
import { API_PREFIX } from "@eiaas/api";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isUnavailableError, type ChangeFeed, type ObjectCache, type ObjectStore, type PrismaClient, type TokenStore } from "@eiaas/db";
import { withTimeout, type Logger } from "@eiaas/telemetry";
import { discoveryRouter } from "./discovery.js";
import { openApiRouter } from "./openapi.js";
import { Authenticator, type LiveTenants } from "./http/auth.js";
import { ApiError, errorHandler, sendError, sendStatus } from "./http/errors.js";
import { jsonBodyParser } from "./http/json-body.js";
import { RateLimiter, type RateLimitOptions } from "./http/rate-limit.js";
import { metricsHandler, requestTelemetry } from "./http/telemetry.js";
import { sendStringsInOneWrite } from "./http/one-write.js";
import { cachedGetTarget, serveCachedGet } from "./http/cached-get.js";
import { modelRefsFrom } from "./http/model-refs.js";
import type { ModelRefs } from "./http/authz.js";
import { serveStatusPut, statusPutTarget } from "./http/status-put.js";
import { ResourceService, type DryRunPlanner } from "./resources/service.js";
import type { AdmissionDefaults } from "./resources/admission.js";
import { resourceRouter } from "./routes/resources.js";
import { tokenRouter } from "./routes/tokens.js";
import { agentRouter, type LeaseRenewer, type QueueCredentials } from "./routes/agents.js";
import type { KindInfo } from "@eiaas/api";
import { ArtifactStore, TaskLogStore, type StoredObject } from "@eiaas/db";
import type pg from "pg";
import { cachedClusterState, dryRunPlanner, postgresClusterState, type ClusterStateSource } from "./planning.js";
import { objectReader, type ObjectReader } from "./resources/reader.js";
import { TENANT } from "./resources/validate.js";
import { discoveryRoutes } from "./routes/discovery-routes.js";
import { evictionRouter } from "./routes/eviction.js";
import { logRouter } from "./routes/logs.js";
import { measurementRouter } from "./routes/measurements.js";
import { artifactRouter } from "./routes/artifacts.js";
import { ExitHeadJanitor } from "./artifacts/exit-heads.js";
import { DEFAULT_MAX_ARTIFACT_BYTES } from "./config.js";
import { OutageLog } from "./http/outage-log.js";
import { coreRouter } from "./core/core-routes.js";
import { authenticationRouter, authorizationRouter } from "./routes/auth-reviews.js";
import { reviewProtobufParser } from "./http/review-protobuf.js";

export interface ApiAppDeps {
  prisma: PrismaClient;
  /** The pool the store runs on (planning reads the cluster state from it). */
  pool: pg.Pool;
  store: ObjectStore;
  tokens: TokenStore;
  feed: ChangeFeed;
  logger: Logger;
  /** Largest accepted request body in bytes (JSON bodies; artifacts have their own limit). */
  maxBodyBytes: number;
  /** Where Models' artifacts are kept. Default: in Postgres, on `pool`. */
  artifacts?: ArtifactStore;
  /** Largest Model artifact accepted. Default 1 GiB. */
  maxArtifactBytes?: number;
  rateLimit: RateLimitOptions & {
    limitAdmins?: boolean;
    /** Failed token lookups per client address (default burst 20, then 1/s). */
    failedAuth?: RateLimitOptions;
    /** Proxies whose X-Forwarded-For names the client. Default none. */
    trustedProxies?: ReadonlySet<string>;
  };
  dryRunPlanner?: DryRunPlanner;
  onWrite?: (kind: KindInfo, obj: StoredObject, type: "create" | "update" | "delete") => void;
  /** Watch bookmark period. Default 10 s. */
  bookmarkIntervalMs?: number;
  /** Checks of /readyz besides the database (e.g. Redis). */
  readinessChecks?: Array<() => Promise<void>>;
  /** Node leases renewed by heartbeats. */
  leases: LeaseRenewer;
  /** Per-agent Redis credentials (absent in the embedded mode). */
  queueCredentials?: (nodeName: string) => Promise<QueueCredentials>;
  /** Every `/metrics` series needs an admin token or the scrape token (EIAAS_METRICS_AUTH). Default false. */
  metricsAuth?: boolean;
  /** The scrape token (EIAAS_METRICS_TOKEN): with it, or an admin token, `/metrics` adds the series naming tenants. */
  metricsToken?: string;
  /** The watch cache: single-object GETs are served from it (started by the caller). Default none. */
  cache?: ObjectCache;
  /** What is admitted for tenants whose spec does not say (priority cap, object-count caps). */
  admission?: AdmissionDefaults;
  /**
   * Where requests answered 503 for an unreachable database are counted and the outage logged
   * (once when it starts, once when it ends). Default: one of the app's own, probing `pool`.
   */
  outage?: OutageLog;
  /** The clock token verification reads (the cache's age, tokens' expiry); tests move one by hand. Default Date.now. */
  now?: () => number;
}

export interface ApiApp {
  /** The routed API (everything but cached GETs and status reports). */
  app: Express;
  /** What the HTTP server calls: cached single-object GETs and status reports first, the routed API for the rest. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  service: ResourceService;
  authenticator: Authenticator;
  /** Deletes the heads of exits removed from Models (after each Model write; `sweep` for all). */
  exitHeads: ExitHeadJanitor;
  /** The database outage log of this app (stopped by `stop`). */
  outage: OutageLog;
  /** Stops the app's background work (the outage probe); the caller closes the server. */
  stop(): void;
}

/** What the routers behind authentication share. */
interface RouteContext {
  service: ResourceService;
  authenticator: Authenticator;
  reader: ObjectReader;
  models: ModelRefs;
  /** What planning reads (dryRun, endpoint ranking, discovery): the watch cache when there is one. */
  cluster: ClusterStateSource;
  artifacts: ArtifactStore;
  exitHeads: ExitHeadJanitor;
  onInternal: (err: unknown) => void;
}

/** Liveness and readiness (database and the caller's checks, each bounded). */
function healthRoutes(deps: ApiAppDeps): express.Router {
  const r = express.Router();
  // /healthz: Kubernetes' older liveness path, still probed by tools and load balancers.
  r.get(["/livez", "/healthz"], (_req, res) => {
    res.type("text/plain").send("ok");
  });
  r.get("/readyz", async (_req, res) => {
    try {
      // Bounded: a dependency that hangs (a connection retrying forever) must answer "not ready".
      await withTimeout(deps.prisma.$queryRawUnsafe("SELECT 1"), 2_000, "database");
      for (const check of deps.readinessChecks ?? []) await withTimeout(check(), 2_000, "readiness check");
      res.type("text/plain").send("ok");
    } catch (err) {
      res
        .status(503)
        .type("text/plain")
        .send(`not ready: ${(err as Error).message.split("\n")[0]}`);
    }
  });
  return r;
}

function createAuthenticator(deps: ApiAppDeps, reader: ObjectReader): Authenticator {
  return new Authenticator({
    tokens: deps.tokens,
    // A tenant token speaks for the live tenant it was minted for, checked in the watch cache.
    ...(deps.cache ? { tenants: liveTenants(reader) } : {}),
    limiter: new RateLimiter(deps.rateLimit),
    limitAdmins: deps.rateLimit.limitAdmins ?? false,
    ...(deps.rateLimit.failedAuth ? { failedAuth: deps.rateLimit.failedAuth } : {}),
    ...(deps.rateLimit.trustedProxies ? { trustedProxies: deps.rateLimit.trustedProxies } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
}

/** Everything under API_PREFIX: tokens, agents, discovery, eviction, logs, reports, artifacts, resources. */
function groupRoutes(deps: ApiAppDeps, ctx: RouteContext): express.Router {
  const { service, authenticator, reader, models, cluster, artifacts, exitHeads, onInternal } = ctx;
  const api = express.Router();
  api.use(authenticator.middleware());
  api.use(jsonBodyParser(deps.maxBodyBytes));
  api.use(tokenRouter({ tokens: deps.tokens, store: deps.store, onRevoke: () => authenticator.invalidate() }));
  api.use(
    agentRouter({
      store: deps.store,
      tokens: deps.tokens,
      leases: deps.leases,
      ...(deps.queueCredentials ? { queueCredentials: deps.queueCredentials } : {}),
      onRevoke: () => authenticator.invalidate(),
    }),
  );
  api.use(discoveryRoutes({ store: deps.store, cluster }));
  api.use(evictionRouter({ store: deps.store }));
  api.use(logRouter({ store: deps.store, logs: new TaskLogStore(deps.pool) }));
  api.use(measurementRouter({ store: deps.store, reader }));
  api.use(
    artifactRouter({
      service,
      store: deps.store,
      artifacts,
      exitHeads,
      models,
      maxArtifactBytes: deps.maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES,
      onInternal,
    }),
  );
  api.use(
    resourceRouter({
      service,
      store: deps.store,
      feed: deps.feed,
      models,
      ...(deps.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: deps.bookmarkIntervalMs } : {}),
      onInternal,
    }),
  );
  return api;
}

/** The part of the core group stock clients need (core/core-resources.ts), read-only. */
function coreRoutes(deps: ApiAppDeps, ctx: RouteContext): express.Router {
  const core = express.Router();
  core.use(ctx.authenticator.middleware());
  core.use(
    coreRouter({
      service: ctx.service,
      store: deps.store,
      feed: deps.feed,
      ...(deps.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: deps.bookmarkIntervalMs } : {}),
      onInternal: ctx.onInternal,
    }),
  );
  return core;
}

/** kubectl auth can-i / whoami, answered by the same authorize() as every request. */
function reviewRoutes(deps: ApiAppDeps, ctx: RouteContext): express.Router {
  const reviews = express.Router();
  reviews.use(ctx.authenticator.middleware());
  reviews.use(jsonBodyParser(deps.maxBodyBytes));
  reviews.use(reviewProtobufParser());
  reviews.use("/apis/authorization.k8s.io/v1", authorizationRouter());
  reviews.use("/apis/authentication.k8s.io/v1", authenticationRouter());
  return reviews;
}

/**
 * The server's request handler. The two requests controllers and agents make most go around the
 * router: single-object GETs (from the watch cache) and status reports. Everything else, and every
 * unusual form of these (query strings, Tables, other media types), is routed. No request may end
 * the process: whatever escapes a path is answered (a 500 at worst) here.
 */
function fastPathHandler(deps: ApiAppDeps, ctx: RouteContext, app: express.Express) {
  const { service, authenticator, models, onInternal } = ctx;
  const statusDeps = { service, authenticator, maxBodyBytes: deps.maxBodyBytes, onInternal };
  const { cache } = deps;
  const fail = (res: ServerResponse) => (err: unknown) => sendError(res, err, onInternal);
  return (req: IncomingMessage, res: ServerResponse) => {
    try {
      const get = cache ? cachedGetTarget(req, cache) : undefined;
      if (get) return void serveCachedGet({ cache: cache!, store: deps.store, authenticator, models, onInternal }, get, req, res).catch(fail(res));
      const put = statusPutTarget(req);
      if (put) return void serveStatusPut(statusDeps, put, req, res).catch(fail(res));
      app(req, res);
    } catch (err) {
      fail(res)(err);
    }
  };
}

/** Assembles the API: health, discovery, then authenticated token and resource routes. */
export function createApiApp(deps: ApiAppDeps): ApiApp {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");
  sendStringsInOneWrite(app);
  const outage = deps.outage ?? new OutageLog({ logger: deps.logger, probe: () => deps.pool.query("SELECT 1") });
  // A database outage is two log lines (its start and end), not one per request answered 503.
  const onInternal = (err: unknown) => {
    if (isUnavailableError(err)) outage.refuse(err);
    else deps.logger.error({ err }, "request failed");
  };
  // First, so every request (errors and 404s included) is traced and measured.
  app.use(requestTelemetry(onInternal));
  // A NUL can reach a path segment or a query value only as %00; Postgres stores no NUL in text.
  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(req.url.includes("%00") ? new ApiError("BadRequest", "the request URL contains a NUL character (%00)") : undefined);
  });
  app.use(healthRoutes(deps));
  app.use(discoveryRouter());
  app.use(openApiRouter());

  const reader = objectReader(deps.store, deps.cache);
  // Planning (dryRun, endpoint ranking, discovery) reads the watch cache, not the tables, per request.
  const cluster = deps.cache ? cachedClusterState(deps.cache, deps.pool) : postgresClusterState(deps.pool);
  const authenticator = createAuthenticator(deps, reader);
  app.get("/metrics", metricsHandler({ requireToken: deps.metricsAuth ?? false, authenticator, ...(deps.metricsToken ? { metricsToken: deps.metricsToken } : {}) }));
  const artifacts = deps.artifacts ?? new ArtifactStore(deps.pool);
  const exitHeads = new ExitHeadJanitor({
    store: deps.store,
    artifacts,
    onError: (err) => (isUnavailableError(err) ? outage.note(err) : deps.logger.warn({ err }, "deleting the heads of exits removed from a Model")),
  });
  const service = new ResourceService({
    store: deps.store,
    reader,
    dryRunPlanner: deps.dryRunPlanner ?? dryRunPlanner(cluster, deps.store, deps.admission?.maxPriority ?? 0),
    onWrite: (kind, obj, type) => {
      // An exit removed from a Model's spec takes its stored head with it.
      if (kind.kind === "Model" && type === "update") exitHeads.changed(obj);
      deps.onWrite?.(kind, obj, type);
    },
    ...(deps.admission ? { admission: deps.admission } : {}),
  });
  // Agents read the Models of their node's tasks, found in the watch cache; without one, none.
  const models: ModelRefs = deps.cache ? modelRefsFrom(deps.cache) : { nodeUsesModel: () => false };
  const ctx: RouteContext = { service, authenticator, reader, models, cluster, artifacts, exitHeads, onInternal };
  app.use(API_PREFIX, groupRoutes(deps, ctx));
  app.use("/api/v1", coreRoutes(deps, ctx));
  app.use(reviewRoutes(deps, ctx));
  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError("NotFound", `the server could not find the requested resource (${req.method} ${req.path})`));
  });
  app.use(errorHandler(onInternal));
  return { app, handler: fastPathHandler(deps, ctx, app), service, authenticator, exitHeads, outage, stop: () => outage.stop() };
}

/** The live Tenants' uids as the reader has them (a tenant being deleted is not live). */
function liveTenants(reader: ObjectReader): LiveTenants {
  const liveUid = (t: StoredObject | null) => (t && !t.metadata.deletionTimestamp ? t.metadata.uid : null);
  return {
    peek: (name) => {
      const t = reader.peek?.(TENANT, undefined, name);
      return t === undefined ? undefined : liveUid(t);
    },
    get: async (name) => liveUid(await reader.get(TENANT, undefined, name)),
  };
}

export { sendStatus };
