import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import {
  bindContext,
  enableProcessMetrics,
  contextFrom,
  histogram,
  LATENCY_BUCKETS,
  renderMetrics,
  runInContext,
  secondsSince,
  SpanKind,
  SpanStatusCode,
  startSpanContext,
  activeContext,
  tokenMatches,
  type Context,
} from "@eiaas/telemetry";
import { ApiError } from "./errors.js";
import type { Authenticator } from "./auth.js";

/** `eiaas_api_request_duration_seconds{method, route, code}`: route is the template, never the raw path. */
export const requestDuration = histogram<"method" | "route" | "code">({
  name: "eiaas_api_request_duration_seconds",
  help: "API request latency by method (WATCH for watch streams), route template and status code",
  labelNames: ["method", "route", "code"],
  buckets: LATENCY_BUCKETS,
});

/** Label of requests no route matched (404s of unknown paths): one series, whatever the path. */
export const UNMATCHED_ROUTE = "<unmatched>";

/**
 * The route template of an answered request (`/apis/eiaas.io/v1alpha1/namespaces/:ns/:plural/:name`).
 * Express keeps `req.route` (the matched route, relative to its router's mount path) but restores
 * `req.baseUrl` when a router is left, e.g. on the way to the error handler; so the mount path is
 * taken from the request path instead: the route's pattern has one segment per path segment.
 */
export function routeTemplate(req: Request): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof pattern !== "string") return UNMATCHED_ROUTE;
  if (pattern.includes("*") || pattern.includes("{")) return `${req.baseUrl}${pattern}`;
  const path = (req.originalUrl ?? req.url).split("?")[0]!.replace(/\/+$/, "");
  const routeSegments = pattern.split("/").filter(Boolean).length;
  const segments = path.split("/");
  const mount = segments.slice(0, Math.max(1, segments.length - routeSegments)).join("/");
  return `${mount}${pattern}` || "/";
}

function methodOf(req: Request): string {
  const w = req.query?.watch;
  return req.method === "GET" && (w === "true" || w === "1" || w === "") ? "WATCH" : req.method;
}

/**
 * Starts a request's SERVER span (child of the caller's `traceparent`, e.g. an agent's status
 * report) and, when the response closes, records the latency histogram and ends the span with the
 * route template `routeOf` names then. Returns the context to run the request in. `onError` hears
 * of a failure to record (the hook runs outside any request handler: a throw there would end the
 * process).
 */
export function traceRequest(req: IncomingMessage, res: ServerResponse, path: string, methodLabel: () => string, routeOf: () => string, onError: (err: unknown) => void): Context {
  const start = process.hrtime.bigint();
  const method = req.method ?? "GET";
  const parent = contextFrom(req.headers as Record<string, unknown>, activeContext());
  const started = startSpanContext(method, {
    kind: SpanKind.SERVER,
    parent,
    attributes: { "http.request.method": method, "url.path": path, ...(req.headers["user-agent"] ? { "user_agent.original": req.headers["user-agent"] } : {}) },
  });
  const span = started?.span;
  const ctx: Context = started?.ctx ?? parent;
  if (started) {
    bindContext(ctx, req);
    bindContext(ctx, res);
  }
  res.once("close", () => {
    try {
      const route = routeOf();
      const code = res.writableFinished ? res.statusCode : 499;
      requestDuration.observe({ method: methodLabel(), route, code: String(code) }, secondsSince(start));
      if (span) {
        span.updateName(`${method} ${route}`);
        span.setAttribute("http.route", route);
        span.setAttribute("http.response.status_code", code);
        if (code >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      }
    } catch (err) {
      onError(err);
    } finally {
      span?.end();
    }
  });
  return ctx;
}

/**
 * Per request: a SERVER span that is active for everything the request does, and the latency
 * histogram. The request stream is bound to the span's context so the body parser's callbacks
 * (stream events) keep it.
 */
export function requestTelemetry(onError: (err: unknown) => void): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const ctx = traceRequest(
      req,
      res,
      req.path,
      () => methodOf(req),
      () => routeTemplate(req),
      onError,
    );
    runInContext(ctx, () => next());
  };
}

/** Who may read what of `/metrics`. */
export interface MetricsAccess {
  /** Every series needs an admin token or the scrape token (EIAAS_METRICS_AUTH). Default false. */
  requireToken: boolean;
  /** The scrape token (EIAAS_METRICS_TOKEN): reads every series, and nothing else of the API. */
  metricsToken?: string;
  authenticator: Authenticator;
}

/**
 * `GET /metrics`: the process's registry (the demo's API process also carries the scheduler's and
 * the simulated agents' series). The series that name tenants (their usage and quota) need an
 * admin token or the scrape token, as Kubernetes authorizes its /metrics: Prometheus reads the
 * token from a file (`authorization.credentials_file`). Without a token the rest is open, unless
 * `requireToken`; another valid token (tenant, agent) reads the open series, or 403 with
 * `requireToken`; an invalid one answers 401.
 */
export function metricsHandler(options: MetricsAccess): RequestHandler {
  enableProcessMetrics();
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const m = await renderMetrics({ restricted: await metricsScope(req, options) });
      res.status(200).type(m.contentType).send(m.body);
    } catch (err) {
      next(err);
    }
  };
}

/** Whether the request may read the restricted series; throws the 401/403 to answer. */
async function metricsScope(req: Request, options: MetricsAccess): Promise<boolean> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
  if (bearer !== undefined && options.metricsToken && tokenMatches(bearer, options.metricsToken)) return true;
  if (req.headers.authorization === undefined) {
    if (options.requireToken) throw new ApiError("Unauthorized", "Unauthorized: /metrics requires a bearer token (EIAAS_METRICS_AUTH=true)");
    return false;
  }
  const principal = await options.authenticator.authenticate(req);
  if (principal.role === "admin") return true;
  if (options.requireToken) throw new ApiError("Forbidden", `${principal.role} token "${principal.name}" cannot read /metrics: an admin token or the metrics token is needed`);
  return false;
}
