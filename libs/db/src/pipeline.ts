import type pg from "pg";

interface Corkable {
  cork?(): void;
  uncork?(): void;
}

/** The client's socket (node-postgres keeps it at `connection.stream`, not in its typings), if it has one. */
function socketOf(client: object): Corkable | undefined {
  const connection: unknown = "connection" in client ? client.connection : undefined;
  if (typeof connection !== "object" || connection === null || !("stream" in connection)) return undefined;
  const stream: unknown = connection.stream;
  return typeof stream === "object" && stream !== null ? stream : undefined;
}

/**
 * Runs `send`, which issues queries on a pipelining client (createDatabase sets `pipeline`), with
 * the client's socket corked: its statements leave in one write instead of one each. On two busy
 * cores each write is a system call and a wake-up of the backend, which then reads, runs and
 * answers one statement before sleeping again; together it reads the whole transaction at once.
 * Queries the client cannot send yet (still connecting) queue and leave later, as without it.
 */
export function sendTogether<T>(client: pg.ClientBase, send: () => T): T {
  const stream = socketOf(client);
  stream?.cork?.();
  try {
    return send();
  } finally {
    stream?.uncork?.();
  }
}
