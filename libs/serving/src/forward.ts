import { Agent, request, type IncomingMessage } from "node:http";
import { parseTimings, type ExitOutcome, type StageTimings } from "./timings.js";
import { BINARY_TYPE, decodeBinary, encodeBinary, SHAPE_HEADER, ServingError, type Tensor } from "./wire.js";

export const TIMINGS_HEADER = "x-eiaas-timings";
export const EXIT_HEADER = "x-eiaas-exit";

/** `host:port` or `http://host:port[/]` → the base URL; anything else is an error naming it. */
export function nextStageUrl(endpoint: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`next endpoint ${JSON.stringify(endpoint)} is not host:port or an http:// URL`);
  }
  if (url.protocol !== "http:") throw new Error(`next endpoint ${JSON.stringify(endpoint)}: only http:// is served between stages`);
  if (!url.port || (url.pathname !== "/" && url.pathname !== "") || url.search || url.username) {
    throw new Error(`next endpoint ${JSON.stringify(endpoint)} must be host:port (no path, query or credentials)`);
  }
  return url;
}

export interface NextStageOptions {
  /** How long the whole forward may take. @defaultValue 30000 */
  timeoutMs?: number;
  /** Largest reply body taken from it. @defaultValue 64 MiB */
  maxReplyBytes?: number;
  /** Keep-alive connections kept to it. @defaultValue 4 */
  maxSockets?: number;
}

export interface ForwardResult {
  output: Tensor;
  timings?: StageTimings;
  exit?: ExitOutcome;
  /** From sending the request to the whole reply read. */
  roundTripMs: number;
}

/**
 * The stage after this one (the tail of a split plan): its cut tensor goes there in the binary
 * wire format over a kept-alive connection, and its answer comes back. Its failures are this
 * server's 502 (504 on timeout), saying which stage failed, and quoting only the `message` of an
 * eiaas Status reply: what some other server answers is not echoed to our client.
 */
export class NextStage {
  readonly url: URL;
  private readonly agent: Agent;

  constructor(
    endpoint: string,
    private readonly options: NextStageOptions = {},
  ) {
    this.url = nextStageUrl(endpoint);
    // No Nagle: a request is one small write waiting for its answer.
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 4, noDelay: true });
  }

  get endpoint(): string {
    return this.url.host;
  }

  infer(t: Tensor): Promise<ForwardResult> {
    const body = encodeBinary(t);
    const started = performance.now();
    const maxReply = this.options.maxReplyBytes ?? 64 * 2 ** 20;
    return new Promise<ForwardResult>((resolve, reject) => {
      const fail = (status: number, message: string) => reject(new ServingError(status, `the next stage ${this.endpoint}: ${message}`));
      const req = request(
        new URL("/v1/infer", this.url),
        {
          method: "POST",
          agent: this.agent,
          timeout: this.options.timeoutMs ?? 30_000,
          headers: { "content-type": BINARY_TYPE, accept: BINARY_TYPE, [SHAPE_HEADER]: t.shape.join(","), "content-length": body.length },
        },
        (res) => {
          readReply(res, maxReply).then(
            (reply) => {
              if (reply === undefined) return fail(502, `its reply is larger than ${maxReply} bytes`);
              if (res.statusCode !== 200) return fail(502, `answered ${res.statusCode}${statusMessage(reply)}`);
              try {
                const output = decodeBinary(reply, header(res, SHAPE_HEADER), Math.floor(maxReply / 4));
                const result: ForwardResult = { output, roundTripMs: performance.now() - started };
                const timings = parseTimings(parseJsonHeader(header(res, TIMINGS_HEADER)));
                if (timings) result.timings = timings;
                const exit = parseExit(parseJsonHeader(header(res, EXIT_HEADER)));
                if (exit) result.exit = exit;
                resolve(result);
              } catch (err) {
                fail(502, `its reply is not a tensor: ${(err as Error).message}`);
              }
            },
            (err: Error) => fail(502, `the reply broke off: ${err.message}`),
          );
        },
      );
      req.on("timeout", () => req.destroy(new ServingError(504, `no answer within ${this.options.timeoutMs ?? 30_000} ms`)));
      req.on("error", (err) => {
        if (err instanceof ServingError) fail(err.status, err.message);
        else fail(502, `cannot reach it: ${err.message}`);
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The body, or undefined when it passes `limit` bytes (the rest is not read). */
function readReply(res: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        res.destroy();
        resolve(undefined);
      } else chunks.push(c);
    });
    res.on("end", () => resolve(Buffer.concat(chunks)));
    res.on("error", reject);
    res.on("aborted", () => reject(new Error("connection closed")));
  });
}

function parseJsonHeader(v: string | undefined): unknown {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

function parseExit(raw: unknown): ExitOutcome | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.taken !== "boolean" || typeof r.confidence !== "number" || typeof r.threshold !== "number") return undefined;
  return { taken: r.taken, confidence: r.confidence, threshold: r.threshold };
}

/** `: <message>` of an eiaas Status reply, bounded; nothing for any other body. */
function statusMessage(body: Buffer): string {
  try {
    const doc = JSON.parse(body.toString("utf8")) as { kind?: unknown; message?: unknown };
    if (doc.kind === "Status" && typeof doc.message === "string") return `: ${doc.message.slice(0, 300)}`;
  } catch {
    // not ours
  }
  return "";
}
