import type { IncomingMessage } from "node:http";

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
