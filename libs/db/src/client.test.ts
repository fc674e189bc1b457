// The shared pool survives Postgres dropping a connection that is checked out between two queries
// (a transaction's client when the server shuts down): the next query fails, the process does not.
import { expect, it } from "vitest";
import { useTestDatabase } from "@eiaas/testing";
import pg from "pg";

const fixture = useTestDatabase({ poolSize: 2 });

it("turns a checked-out client's terminated connection into a failed query, not an uncaught error", async () => {
  const client = await fixture.db.pool.connect();
  const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
  expect(client.listenerCount("error")).toBeGreaterThan(0);
  const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
  // Another session terminates it while no query is active on it: Postgres sends FATAL 57P01.
  const admin = new pg.Client({ connectionString: fixture.url });
  await admin.connect();
  try {
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
  } finally {
    await admin.end();
  }
  await ended;
  await expect(client.query("SELECT 1")).rejects.toThrow();
  client.release();
  // The pool discarded the broken client and serves new queries.
  expect((await fixture.db.pool.query<{ one: number }>("SELECT 1 AS one")).rows[0]!.one).toBe(1);
});
