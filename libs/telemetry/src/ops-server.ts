// The operations endpoint of the processes that serve no API of their own (scheduler, agent):
// /livez, /readyz and /metrics on EIAAS_METRICS_PORT, for kubelet probes and Prometheus.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { enableProcessMetrics, renderMetrics, tokenMatches, withTimeout } from "./metrics.js";

/** A readiness check: resolves when the dependency answers, rejects (with the reason) when not. */
export type ReadinessCheck = () => Promise<unknown>;

export interface OpsServerOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** Default all interfaces (probes and scrapes come from outside the pod). */
  host?: string;
  /** Named readiness checks (`postgres`, `redis`, `api`, ...); all must pass for 200. */
  checks?: Record<string, ReadinessCheck>;
  /** Time limit of each check. Default 2000 ms. */
  checkTimeoutMs?: number;
  /** Extra text on a ready answer (e.g. `leader`/`standby`). */
  readyDetail?: () => string;
  /**
   * The scrape token (EIAAS_METRICS_TOKEN): `/metrics` with `Authorization: Bearer <token>` adds
   * the series that name tenants; without a token they are left out, and a wrong token is refused
   * (401). Unset: those series are never served here.
   */
  metricsToken?: string;
}

export interface OpsServer {
  port: number;
  /**
   * From now on /readyz answers 503 "shutting down" (first step of a graceful stop: load balancers
   * and kubelet stop sending work while in-flight work finishes).
   */
  drain(): void;
  close(): Promise<void>;
}

/** Runs every check; the failures, by name (empty when ready). */
export async function runChecks(checks: Record<string, ReadinessCheck>, timeoutMs = 2_000): Promise<string[]> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(Promise.resolve().then(check), timeoutMs, "");
        return undefined;
      } catch (err) {
        return `${name}: ${((err as Error).message ?? String(err)).split("\n")[0]}`;
      }
    }),
  );
  return results.filter((r): r is string => r !== undefined);
}

/** Starts the server; resolves once it listens. */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  enableProcessMetrics();
  let draining = false;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const text = (code: number, body: string) => {
      res.writeHead(code, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed");
    if (path === "/livez") return text(200, "ok");
    if (path === "/readyz") {
      if (draining) return text(503, "not ready: shutting down");
      void runChecks(options.checks ?? {}, options.checkTimeoutMs).then((failed) =>
        failed.length ? text(503, `not ready: ${failed.join("; ")}`) : text(200, options.readyDetail ? `ok (${options.readyDetail()})` : "ok"),
      );
      return;
    }
    if (path === "/metrics") {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
      if (bearer !== undefined && !(options.metricsToken && tokenMatches(bearer, options.metricsToken))) return text(401, "unauthorized: wrong metrics token");
      void renderMetrics({ restricted: bearer !== undefined }).then(
        (m) => {
          res.writeHead(200, { "Content-Type": m.contentType });
          res.end(m.body);
        },
        (err) => text(500, `metrics failed: ${(err as Error).message}`),
      );
      return;
    }
    text(404, "not found");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    drain: () => {
      draining = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
