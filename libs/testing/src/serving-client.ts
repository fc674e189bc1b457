// Plain HTTP calls to a serving server, for tests and the bench (what any client would send).
import { request, type Agent } from "node:http";
import { BINARY_TYPE, JSON_TYPE, SHAPE_HEADER } from "@eiaas/serving";

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One raw HTTP request to 127.0.0.1:port, on a connection of its own unless `agent` keeps some alive. */
export function call(port: number, options: { method?: string; path?: string; headers?: Record<string, string | number>; body?: Buffer | string; agent?: Agent }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, agent: options.agent ?? false, method: options.method ?? "POST", path: options.path ?? "/v1/infer", headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** POSTs a tensor as float32 bytes; `accept` picks the reply's encoding. */
export function inferBinary(port: number, shape: number[], data: Float32Array, accept = BINARY_TYPE, agent?: Agent): Promise<Reply> {
  return call(port, {
    ...(agent ? { agent } : {}),
    headers: { "content-type": BINARY_TYPE, [SHAPE_HEADER]: shape.join(","), accept },
    body: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  });
}

/** POSTs a tensor as JSON. */
export function inferJson(port: number, shape: number[], data: ArrayLike<number>, accept = JSON_TYPE): Promise<Reply> {
  return call(port, { headers: { "content-type": JSON_TYPE, accept }, body: JSON.stringify({ shape, data: Array.from(data) }) });
}

/** The float32 values of a binary reply. */
export function floats(body: Buffer): Float32Array {
  const out = new Float32Array(body.length / 4);
  new Uint8Array(out.buffer).set(body);
  return out;
}

/** Largest absolute difference of two equally long vectors. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}
