// `eictl infer`'s requests to a serving entry (the data plane, not the API): GET /healthz for the
// model's input, POST /v1/infer with the tensor as float32 bytes. Plain HTTP, as the servers speak.
import { request, Agent } from "node:http";
import { CliError } from "./errors.js";
import type { InputTensor, ModelDim } from "./infer-input.js";

/** What one stage of the chain reported (the serving program's `x-eiaas-timings`). */
export interface StageTimings {
  node?: string;
  layers?: { from: number; to: number };
  receiveMs?: number;
  queueMs?: number;
  runMs?: number;
  exitMs?: number;
  totalMs?: number;
  transferMs?: number;
  reused?: "cache" | "filter";
  next?: StageTimings;
}

export interface InferReply {
  shape: number[];
  data: Float32Array;
  timings?: StageTimings;
  exit?: { taken: boolean; confidence: number; threshold: number };
  /** The round trip as this client saw it, ms. */
  roundTripMs: number;
}

/** Longest a request may take: the serving program's own forward timeout is 30 s. */
const TIMEOUT_MS = 60_000;
/** Largest reply read (the answer of a classifier is kilobytes). */
const MAX_REPLY_BYTES = 256 * 2 ** 20;

/** One HTTP exchange with the entry; failures are one-line CliErrors naming `where`. */
export class EntryConnection {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly host: string;
  private readonly port: number;

  constructor(
    readonly address: string,
    private readonly where: string,
  ) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(address);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new CliError(`${where} reports the endpoint "${address.slice(0, 100)}", which is not host:port`);
    this.host = m[1]!.replace(/^\[|\]$/g, "");
    this.port = Number(m[2]);
  }

  close(): void {
    this.agent.destroy();
  }

  /** The model's input dims, as the entry's /healthz states them (undefined when it does not). */
  async inputDims(): Promise<ModelDim[] | undefined> {
    const r = await this.exchange("GET", "/healthz", {});
    if (r.status !== 200) throw this.refused(r.status, r.body);
    try {
      const dims = JSON.parse(r.body.toString("utf8"))?.input?.dims;
      return Array.isArray(dims) && dims.every((d) => typeof d === "number" || typeof d === "string") ? dims : undefined;
    } catch {
      return undefined;
    }
  }

  async infer(t: InputTensor, stream: string): Promise<InferReply> {
    const body = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const started = performance.now();
    const r = await this.exchange(
      "POST",
      "/v1/infer",
      {
        "content-type": "application/octet-stream",
        accept: "application/octet-stream",
        "x-eiaas-shape": t.shape.join(","),
        "x-eiaas-stream": stream,
        "content-length": body.length,
      },
      body,
    );
    const roundTripMs = performance.now() - started;
    if (r.status !== 200) throw this.refused(r.status, r.body);
    const shape = String(r.headers["x-eiaas-shape"] ?? "")
      .split(",")
      .map(Number);
    if (shape.some((d) => !Number.isSafeInteger(d) || d < 1) || r.body.length % 4 !== 0) throw new CliError(`${this.where} answered a malformed tensor`);
    const data = new Float32Array(r.body.length / 4);
    new Uint8Array(data.buffer).set(r.body);
    return { shape, data, ...header(r.headers, "x-eiaas-timings", "timings"), ...header(r.headers, "x-eiaas-exit", "exit"), roundTripMs };
  }

  private refused(status: number, body: Buffer): CliError {
    let message = body.toString("utf8").slice(0, 300);
    try {
      const s = JSON.parse(body.toString("utf8"));
      if (typeof s?.message === "string") message = s.message;
    } catch {
      // not a Status: quoted as it came (cut)
    }
    const what = status === 400 ? "refused the input" : `answered ${status}`;
    return new CliError(`${this.where} ${what}: ${message.replace(/\s+/g, " ").trim()}`);
  }

  private exchange(
    method: string,
    path: string,
    headers: Record<string, string | number>,
    body?: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: this.host, port: this.port, method, path, headers, agent: this.agent, timeout: TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPLY_BYTES) {
            res.destroy();
            reject(new CliError(`${this.where} answered more than ${MAX_REPLY_BYTES} bytes`));
          } else chunks.push(c);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", (err) => reject(new CliError(`${this.where}: ${err.message}`)));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000}s`)));
      req.on("error", (err: NodeJS.ErrnoException) => reject(new CliError(`cannot reach ${this.where}: ${err.code ?? err.message}`)));
      req.end(body);
    });
  }
}

function header<K extends string>(headers: Record<string, string | string[] | undefined>, name: string, key: K): Partial<Record<K, any>> {
  const v = headers[name];
  if (typeof v !== "string") return {};
  try {
    const parsed = JSON.parse(v);
    return parsed && typeof parsed === "object" ? ({ [key]: parsed } as Partial<Record<K, any>>) : {};
  } catch {
    return {};
  }
}
