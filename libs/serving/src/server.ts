import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EXIT_HEADER, TIMINGS_HEADER } from "./forward.js";
import { Pipeline, type PipelineAnswer, type PipelineOptions } from "./pipeline.js";
import { RunLog } from "./run-log.js";
import { rounded, serverTiming, stageWorkMs, type ExitOutcome, type StageTimings } from "./timings.js";
import { BINARY_TYPE, decodeBinary, decodeJson, encodeBinary, JSON_TYPE, replyEncoding, requestEncoding, ServingError, SHAPE_HEADER, type Encoding, type Tensor } from "./wire.js";

export interface ServingOptions extends PipelineOptions {
  /** Port to listen on; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** Address to listen on. @defaultValue "127.0.0.1" */
  host?: string;
  /** Reported in the timings: the node this server runs on. */
  node?: string;
  /** Reported in the timings: the chain layers of the segment (1-based, inclusive). */
  layers?: { from: number; to: number };
  /** Largest request body when the model's input has open dims (else its size decides). @defaultValue 64 MiB */
  maxBodyBytes?: number;
  /** On stop, how long requests in progress may take before their connections are cut. @defaultValue 5000 */
  drainMs?: number;
  /** Hears every answered request's timings (the agent's measurements). Must not throw. */
  onAnswer?(timings: StageTimings, exit?: ExitOutcome): void;
}

export interface ServingServer {
  readonly port: number;
  readonly pipeline: Pipeline;
  /** Stops accepting, lets requests in progress finish (up to `drainMs`), frees the sessions. */
  close(): Promise<void>;
}

/** Bytes of JSON per float the limit allows: `-1.2345678901234567e-10,` is 24. */
const JSON_BYTES_PER_VALUE = 32;

/** Loads the pipeline and serves it: `POST /v1/infer`, `GET /healthz`. */
export async function startServing(options: ServingOptions): Promise<ServingServer> {
  const pipeline = await Pipeline.load(options);
  try {
    return await serve(pipeline, options);
  } catch (err) {
    await pipeline.close();
    throw err;
  }
}

/** What one server's request handlers share. */
interface ServeContext {
  pipeline: Pipeline;
  options: Omit<ServingOptions, "model">;
  maxElements: number;
  limits: Record<Encoding, number>;
  label: Pick<StageTimings, "node" | "layers">;
  /** The body of `GET /healthz`. */
  health: string;
  /** The stage's own work of each computed answer, for `GET /v1/timings`. */
  runs: RunLog;
  stopping: boolean;
}

/** `POST /v1/infer`: reads and decodes the input, answers it through the pipeline. */
async function infer(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, arrived: number): Promise<void> {
  const { pipeline, limits, maxElements } = ctx;
  const encoding = requestEncoding(req.headers["content-type"]);
  const reply = replyEncoding(req.headers.accept, encoding);
  const limit = limits[encoding];
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) throw new ServingError(413, `the body has ${declared} bytes; this model's input takes at most ${limit} as ${encoding}`);
  const leave = pipeline.admission.enter();
  try {
    const body = await readBody(req, limit, encoding);
    const decodeStart = performance.now();
    const receiveMs = decodeStart - arrived;
    const input = encoding === "binary" ? decodeBinary(body, header(req, SHAPE_HEADER), maxElements) : decodeJson(body, maxElements);
    pipeline.segment.checkInput(input.shape);
    const deserializeMs = performance.now() - decodeStart;
    const answer = await pipeline.answer(input, streamOf(req));
    send(ctx, res, answer, reply, { receiveMs, deserializeMs }, arrived);
  } finally {
    leave();
  }
}

/** Encodes the answer with its timings (header and, for JSON, body); records the stage's work. */
function send(ctx: ServeContext, res: ServerResponse, answer: PipelineAnswer, reply: Encoding, read: { receiveMs: number; deserializeMs: number }, arrived: number): void {
  const serializeStart = performance.now();
  const out = answer.output;
  const payload = reply === "binary" ? encodeBinary(out) : JSON.stringify(Array.from(out.data));
  const done = performance.now();
  const timings = rounded(ctx.pipeline.timings(answer, { ...read, serializeMs: done - serializeStart, totalMs: done - arrived }, ctx.label));
  if (!answer.reused) ctx.runs.add(stageWorkMs(timings));
  try {
    ctx.options.onAnswer?.(timings, answer.exit);
  } catch {
    // a listener's failure is no reason to fail the request
  }
  res.setHeader("server-timing", serverTiming(timings));
  if (reply === "binary") {
    res.writeHead(200, {
      "content-type": BINARY_TYPE,
      [SHAPE_HEADER]: out.shape.join(","),
      [TIMINGS_HEADER]: JSON.stringify(timings),
      ...(answer.exit ? { [EXIT_HEADER]: JSON.stringify(answer.exit) } : {}),
      "content-length": (payload as Buffer).length,
    });
    res.end(payload);
    return;
  }
  const body = `{"shape":${JSON.stringify(out.shape)},"data":${payload as string}${answer.exit ? `,"exit":${JSON.stringify(answer.exit)}` : ""},"timings":${JSON.stringify(timings)}}`;
  res.writeHead(200, { "content-type": JSON_TYPE, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The server's four paths; anything else is 404 (405 for another method on /v1/infer). */
function route(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, arrived: number): Promise<void> {
  const path = (req.url ?? "/").split("?")[0]!;
  const readOnly = req.method === "GET" || req.method === "HEAD";
  if (path === "/healthz" && readOnly) {
    return Promise.resolve().then(() => {
      if (ctx.stopping) throw new ServingError(503, "stopping");
      res.writeHead(200, { "content-type": JSON_TYPE }).end(req.method === "HEAD" ? undefined : ctx.health);
    });
  }
  if (path === "/metrics" && readOnly) {
    return Promise.resolve().then(() => {
      const text = metricsText(ctx.pipeline);
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(req.method === "HEAD" ? undefined : text);
    });
  }
  if (path === "/v1/timings" && req.method === "GET") {
    return Promise.resolve().then(() => {
      const after = Number(new URLSearchParams((req.url ?? "").split("?")[1] ?? "").get("after") ?? 0);
      res.writeHead(200, { "content-type": JSON_TYPE }).end(JSON.stringify(ctx.runs.since(after)));
    });
  }
  if (path === "/v1/infer") return req.method === "POST" ? infer(ctx, req, res, arrived) : Promise.reject(new ServingError(405, "POST a tensor to /v1/infer", { allow: "POST" }));
  return Promise.reject(new ServingError(404, `no such path ${JSON.stringify(path.slice(0, 100))}: POST /v1/infer, GET /healthz, GET /metrics, GET /v1/timings`));
}

/** Serves a loaded pipeline (it is closed with the server). */
export async function serve(pipeline: Pipeline, options: Omit<ServingOptions, "model"> = {}): Promise<ServingServer> {
  const maxElements = pipeline.segment.inputElements ?? Math.floor((options.maxBodyBytes ?? 64 * 2 ** 20) / 4);
  const ctx: ServeContext = {
    pipeline,
    options,
    maxElements,
    limits: { binary: maxElements * 4, json: maxElements * JSON_BYTES_PER_VALUE + 4096 },
    label: { ...(options.node ? { node: options.node } : {}), ...(options.layers ? { layers: options.layers } : {}) },
    health: JSON.stringify({
      status: "ok",
      model: pipeline.segment.describe(),
      input: pipeline.segment.input,
      ...(pipeline.exitHead ? { exitHead: pipeline.exitHead.describe(), exitThreshold: pipeline.exitThreshold } : {}),
      ...(pipeline.next ? { next: pipeline.next.endpoint } : {}),
    }),
    runs: new RunLog(),
    stopping: false,
  };
  const server: Server = createServer((req, res) => {
    const arrived = performance.now();
    route(ctx, req, res, arrived).catch((err: unknown) => fail(req, res, err));
  });
  // A client that trickles its headers or body does not hold an admission forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  // A socket error after listening (a client resetting) must never end the process.
  server.on("clientError", (_err, socket) => socket.destroy());
  server.on("error", () => undefined);

  let closed: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    pipeline,
    close() {
      closed ??= drainAndClose(ctx, server);
      return closed;
    },
  };
}

/** Stops accepting, lets the requests in progress finish (up to `drainMs`), then closes the pipeline. */
async function drainAndClose(ctx: ServeContext, server: Server): Promise<void> {
  ctx.stopping = true;
  const stoppedListening = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const deadline = Date.now() + (ctx.options.drainMs ?? 5_000);
  while (ctx.pipeline.admission.inProgress > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  server.closeAllConnections();
  await stoppedListening;
  await ctx.pipeline.close();
}

/** The header naming the client's stream of inputs (its node, camera...): the input filter compares within one. */
export const STREAM_HEADER = "x-eiaas-stream";

/** The request's stream: its `x-eiaas-stream` header (at most 253 characters), else the one shared stream "". */
function streamOf(req: IncomingMessage): string {
  const s = header(req, STREAM_HEADER) ?? "";
  if (s.length > 253) throw new ServingError(400, `${STREAM_HEADER} is longer than 253 characters`);
  return s;
}

/** The server's counters in Prometheus' text format (what a scraper of the task's endpoint reads). */
function metricsText(pipeline: Pipeline): string {
  const c = pipeline.counts();
  const lines: string[] = [];
  const counter = (name: string, help: string, value: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
  counter("eiaas_serving_requests_total", "Inference requests answered (computed or reused).", c.requests);
  counter("eiaas_serving_model_runs_total", "Runs of the segment's onnxruntime session.", pipeline.segment.runs);
  counter("eiaas_serving_cache_hits_total", "Requests answered from the result cache (an identical input).", c.cacheHits);
  counter("eiaas_serving_cache_misses_total", "Requests looked up in the result cache and not found.", c.cacheMisses);
  counter("eiaas_serving_filter_skips_total", "Requests answered by the input filter (a near-duplicate of the stream's last processed input).", c.filterSkips);
  return `${lines.join("\n")}\n`;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The request body, up to `limit` bytes (413 past it: the rest is not read, the connection closes). */
function readBody(req: IncomingMessage, limit: number, encoding: Encoding): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off("data", onData);
        req.pause();
        reject(new ServingError(413, `the body passes ${limit} bytes, the most this model's input takes as ${encoding}`));
      } else chunks.push(c);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks, size)));
    req.once("error", reject);
    req.once("aborted", () => reject(new Error("the client went away")));
  });
}

/** Answers a failure as a Kubernetes-style Status; a request whose client left gets nothing. */
function fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const known = err instanceof ServingError;
  const status = known ? err.status : 500;
  // Unknown errors come from onnxruntime or the process: their text says what went wrong, without a stack.
  const message = known ? err.message : `inference failed: ${((err as Error)?.message ?? String(err)).split("\n")[0]}`;
  if (res.headersSent || res.destroyed || req.socket.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason: REASONS[status] ?? "InternalError", code: status });
  // After a refused body the connection is not reused: the rest of it was never read.
  if (!req.complete) res.shouldKeepAlive = false;
  res.writeHead(status, { "content-type": JSON_TYPE, "content-length": Buffer.byteLength(body), ...(known ? err.headers : {}) });
  res.end(body);
}

const REASONS: Record<number, string> = {
  400: "BadRequest",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  429: "TooManyRequests",
  502: "BadGateway",
  503: "ServiceUnavailable",
  504: "GatewayTimeout",
};

export type { Tensor };
