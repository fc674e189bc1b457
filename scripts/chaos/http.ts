// HTTPS requests to the API (through the load balancer, or one API server directly), with the
// outcome classified as the ledger needs it: an answer (any status), or no answer (a timeout, a
// reset connection) — after which nobody knows whether a write happened.
import https from "node:https";

export interface Answer {
  status: number;
  body: any;
  ms: number;
}

export class NoAnswer extends Error {
  override readonly name = "NoAnswer";
  constructor(
    message: string,
    readonly ms: number,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  contentType?: string;
  /** Default 10 s. */
  timeoutMs?: number;
}

/** A client of one base URL with its own keep-alive connections. */
export class ApiClient {
  private readonly agent: https.Agent;

  constructor(
    readonly base: string,
    caPem: string,
    maxSockets = 16,
  ) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets, ca: caPem });
  }

  /** Resolves with the answer, whatever its status; rejects with {@link NoAnswer} when none came. */
  request(method: string, path: string, o: RequestOptions = {}): Promise<Answer> {
    const t0 = performance.now();
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        `${this.base}${path}`,
        {
          method,
          agent: this.agent,
          timeout: o.timeoutMs ?? 10_000,
          headers: {
            accept: "application/json",
            ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
            ...(payload !== undefined ? { "content-type": o.contentType ?? "application/json", "content-length": Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (err) => reject(new NoAnswer(err.message, performance.now() - t0)));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let body: unknown = text;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              // Not JSON (a plain-text probe): kept as text.
            }
            resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (err) => reject(new NoAnswer(err.message, performance.now() - t0)));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export const API = "/apis/eiaas.io/v1alpha1";
export const V = "eiaas.io/v1alpha1";
