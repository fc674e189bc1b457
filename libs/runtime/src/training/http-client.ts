import { Agent, request } from "node:http";

/** An answer of {@link leanRequest}. */
export interface LeanResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * HTTP for the training wire with no header it does not need: `fetch` (undici) adds accept,
 * accept-language, accept-encoding, sec-fetch-mode and user-agent to every request — ~140 bytes
 * that carry nothing here, a quarter of a compressed update of a small model. This sends the
 * request line, Host, Connection, the bearer token and Content-Length, on a keep-alive connection.
 */
export function leanRequest(
  agent: Agent,
  o: {
    endpoint: string;
    method: "GET" | "POST";
    path: string;
    token: string;
    body?: Uint8Array;
    signal: AbortSignal;
    /** Answers longer than this are cut off (an error). */
    maxBytes: number;
  },
): Promise<LeanResponse> {
  const colon = o.endpoint.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: o.endpoint.slice(0, colon),
        port: Number(o.endpoint.slice(colon + 1)),
        method: o.method,
        path: o.path,
        headers: { authorization: `Bearer ${o.token}`, ...(o.body ? { "content-length": o.body.length } : {}) },
        signal: o.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on("data", (c: Buffer) => {
          length += c.length;
          if (length > o.maxBytes) return void req.destroy(new Error("answer too large"));
          chunks.push(c);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

/** A keep-alive agent for one participant's connections to its aggregator. */
export function leanAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 4 });
}
