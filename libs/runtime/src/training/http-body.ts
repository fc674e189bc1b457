import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A request's body, read only while it stays within `limit` bytes: undefined once it goes past it
 * (the caller answers 413 and closes), so a peer cannot make a training server buffer more than
 * the largest message it expects.
 */
export async function readBoundedBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req) {
    length += (chunk as Buffer).length;
    if (length > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A training server (aggregator or gossip peer) listening on `host:port` (0 picks one): keep-alive
 * held 30 s, as participants and neighbours reuse their connection round after round.
 */
export async function listenTraining(handle: (req: IncomingMessage, res: ServerResponse) => void, port: number, host: string): Promise<{ server: Server; port: number }> {
  const server = createServer(handle);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
