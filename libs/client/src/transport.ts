import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { connectionError, errorFromResponse } from "./errors.js";

/** How to reach the API server. */
export interface ConnectionOptions {
  /** Base URL of the API server, e.g. `https://127.0.0.1:8443` (a path prefix is kept). */
  server: string;
  /** Bearer token; absent sends no Authorization header (discovery and /version are public). */
  token?: string;
  /** PEM of the CA that signed the server's certificate; default: Node's trusted roots. */
  caPem?: string;
  /** Accept any server certificate (no verification). Default false. */
  insecureSkipTlsVerify?: boolean;
  /** Time limit of one ordinary request, in ms (watch and log streams have none). Default 30 000. */
  timeoutMs?: number;
  /** User-Agent header. Default `eiaas-client/<version> (node <version>)`. */
  userAgent?: string;
}

export type QueryValue = string | number | boolean | undefined;

export interface RawRequest {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Absolute path on the server, e.g. `/apis/eiaas.io/v1alpha1/edgenodes`. */
  path: string;
  /** Query parameters; undefined values are left out. */
  query?: Record<string, QueryValue>;
  /**
   * Sent as JSON unless it is a string, bytes (a Uint8Array, sent as they are) or a stream (a
   * Readable, piped: with `contentLength` when known, else chunked; never sent twice).
   */
  body?: unknown;
  /** Length of a stream body, sent as Content-Length. */
  contentLength?: number;
  /** Extra request headers (e.g. If-None-Match). */
  headers?: Record<string, string>;
  /** Default `application/json` when there is a body. */
  contentType?: string;
  /** Default `application/json`. */
  accept?: string;
  signal?: AbortSignal;
  /** Overrides {@link ConnectionOptions.timeoutMs} for this request. */
  timeoutMs?: number;
}

export interface RawResponse {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const CLIENT_VERSION = "0.1.0";
const DEFAULT_TIMEOUT_MS = 30_000;

/** A pooled connection the server had already closed (see `Transport.open`). */
class StaleConnection extends Error {}

/**
 * HTTP(S) transport over Node's `http`/`https` with one Agent per client, so a custom CA and
 * insecure-skip-tls-verify apply to every request (fetch in Node 20 cannot take a CA per call).
 */
export class Transport {
  readonly server: string;
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly options: ConnectionOptions;

  constructor(options: ConnectionOptions) {
    let base: URL;
    try {
      base = new URL(options.server);
    } catch {
      throw new TypeError(`invalid server URL "${options.server}": expected e.g. https://127.0.0.1:8443`);
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new TypeError(`invalid server URL "${options.server}": the scheme must be http or https`);
    }
    this.options = options;
    this.base = base;
    this.server = options.server.replace(/\/+$/, "");
    this.agent =
      base.protocol === "https:"
        ? new https.Agent({ keepAlive: true, ...(options.caPem ? { ca: options.caPem } : {}), rejectUnauthorized: !options.insecureSkipTlsVerify })
        : new http.Agent({ keepAlive: true });
  }

  /** Builds the URL of a path on the server (keeping a base path such as `/eiaas`). */
  url(path: string, query?: Record<string, QueryValue>): URL {
    const url = new URL(this.base.toString());
    url.pathname = `${this.base.pathname.replace(/\/+$/, "")}${path}`;
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** One request, answered in full; a non-2xx answer rejects with an ApiRequestError. */
  async request(req: RawRequest): Promise<RawResponse> {
    return traced(req, async () => {
      const res = await this.open(req, req.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const body = await readBody(res, this.server);
      if ((res.statusCode ?? 0) >= 300) throw errorFromResponse(res.statusCode ?? 0, body, header(res, "retry-after"));
      return { statusCode: res.statusCode ?? 0, headers: res.headers, body };
    });
  }

  /**
   * A streaming request (watch, logs, artifacts): resolves with the open response once a 2xx (or 304) status arrived;
   * an error status rejects with the server's Status. The caller consumes and ends the stream.
   */
  async stream(req: RawRequest): Promise<IncomingMessage> {
    const res = await this.open(req, undefined);
    // 304 (a conditional GET's "you have it") is an answer, not an error.
    if ((res.statusCode ?? 0) >= 300 && res.statusCode !== 304) {
      throw errorFromResponse(res.statusCode ?? 0, await readBody(res, this.server), header(res, "retry-after"));
    }
    return res;
  }

  /** Frees pooled connections; later requests open new ones. */
  close(): void {
    this.agent.destroy();
  }

  /**
   * Sends the request; sent again once on a fresh connection when a pooled keep-alive connection
   * turns out to have been closed by the server as it was reused (ECONNRESET on a reused socket:
   * the server's idle timeout raced the request, which it never read). Only methods that may be
   * repeated are: a POST is not sent twice.
   */
  private async open(req: RawRequest, timeoutMs: number | undefined): Promise<IncomingMessage> {
    try {
      return await this.openOnce(req, timeoutMs);
    } catch (err) {
      if (!(err instanceof StaleConnection)) throw err;
      return this.openOnce(req, timeoutMs);
    }
  }

  private openOnce(req: RawRequest, timeoutMs: number | undefined): Promise<IncomingMessage> {
    const url = this.url(req.path, req.query);
    const stream = req.body instanceof Readable ? req.body : undefined;
    const payload = req.body === undefined || stream ? undefined : typeof req.body === "string" || req.body instanceof Uint8Array ? req.body : JSON.stringify(req.body);
    const headers: http.OutgoingHttpHeaders = {
      ...req.headers,
      Accept: req.accept ?? "application/json",
      "User-Agent": this.options.userAgent ?? `eiaas-client/${CLIENT_VERSION} (node ${process.versions.node})`,
    };
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`;
    // W3C trace context of the caller (an agent's task run): the server's span joins its trace.
    propagation.inject(context.active(), headers);
    if (payload !== undefined) {
      headers["Content-Type"] = req.contentType ?? "application/json";
      headers["Content-Length"] = typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength;
    }
    if (stream) {
      headers["Content-Type"] = req.contentType ?? "application/octet-stream";
      if (req.contentLength !== undefined) headers["Content-Length"] = req.contentLength;
    }
    const mod = url.protocol === "https:" ? https : http;
    return new Promise<IncomingMessage>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        reject(err instanceof Error && err.name === "AbortError" ? err : connectionError(this.server, err));
      };
      const r = mod.request(url, { method: req.method, headers, agent: this.agent, ...(req.signal ? { signal: req.signal } : {}) }, (res) => {
        settled = true;
        // The time limit covers the wait for the answer; a stream may then stay open.
        if (timeoutMs === undefined) r.setTimeout(0);
        resolve(res);
      });
      r.on("error", (err: NodeJS.ErrnoException) => {
        // A stream body may be partly read already: it cannot be sent again.
        if (!settled && r.reusedSocket && err.code === "ECONNRESET" && req.method !== "POST" && !stream && !req.signal?.aborted) {
          settled = true;
          reject(new StaleConnection());
          return;
        }
        fail(err);
      });
      if (timeoutMs !== undefined && timeoutMs > 0) {
        r.setTimeout(timeoutMs, () => {
          const err = Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" });
          fail(err);
          r.destroy(err);
        });
      }
      if (stream) {
        stream.on("error", (err) => r.destroy(err));
        stream.pipe(r);
      } else {
        r.end(payload);
      }
    });
  }
}

/**
 * A CLIENT span around a request made inside a traced operation (none otherwise: heartbeats and
 * eictl do not start traces). With no OpenTelemetry SDK registered this is a plain call.
 */
async function traced<T extends { statusCode: number }>(req: RawRequest, fn: () => Promise<T>): Promise<T> {
  const parent = context.active();
  if (!trace.getSpan(parent)) return fn();
  const span = trace.getTracer("eiaas-client").startSpan(req.method, { kind: SpanKind.CLIENT, attributes: { "http.request.method": req.method, "url.path": req.path } }, parent);
  try {
    const res = await context.with(trace.setSpan(parent, span), fn);
    span.setAttribute("http.response.status_code", res.statusCode);
    return res;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "number") span.setAttribute("http.response.status_code", code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(res: IncomingMessage, server: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", (err) => reject(connectionError(server, err)));
    res.on("aborted", () => reject(connectionError(server, Object.assign(new Error("the answer was cut off"), { code: "ECONNRESET" }))));
  });
}

/** Reads newline-delimited JSON from a stream, yielding each parsed line. */
export async function* ndjson(res: IncomingMessage): AsyncGenerator<unknown> {
  let buffer = "";
  res.setEncoding("utf8");
  for await (const chunk of res as AsyncIterable<string>) {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) yield JSON.parse(line);
    }
  }
  const rest = buffer.trim();
  if (rest) yield JSON.parse(rest);
}
