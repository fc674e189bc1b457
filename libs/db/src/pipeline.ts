import type pg from "pg";

interface Corkable {
  cork?(): void;
  uncork?(): void;
}

/**
 * Runs `send`, which issues queries on a pipelining client (createDatabase sets `pipeline`), with
 * the client's socket corked: its statements leave in one write instead of one each. On two busy
 * cores each write is a system call and a wake-up of the backend, which then reads, runs and
 * answers one statement before sleeping again; together it reads the whole transaction at once.
 * Queries the client cannot send yet (still connecting) queue and leave later, as without it.
 */
export function sendTogether<T>(client: pg.ClientBase, send: () => T): T {
  const stream = (client as unknown as { connection?: { stream?: Corkable } }).connection?.stream;
  stream?.cork?.();
  try {
    return send();
  } finally {
    stream?.uncork?.();
  }
}
