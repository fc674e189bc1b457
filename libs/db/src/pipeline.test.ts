// Statements issued together on a pipelining client leave in one socket write.
import { expect, it } from "vitest";
import { useTestDatabase } from "@eiaas/testing";
import { sendTogether } from "./pipeline.js";

const fixture = useTestDatabase({ poolSize: 1 });

/** Socket writes (write or writev) the client makes while `run` issues its queries. */
async function countWrites(run: (client: import("pg").PoolClient) => Promise<unknown>): Promise<number> {
  const client = await fixture.db.pool.connect();
  try {
    const socket = (client as any).connection.stream;
    let writes = 0;
    const original = { write: socket._write, writev: socket._writev };
    socket._write = function (...args: unknown[]) {
      writes++;
      return original.write.apply(this, args);
    };
    socket._writev = function (...args: unknown[]) {
      writes++;
      return original.writev.apply(this, args);
    };
    try {
      await run(client);
    } finally {
      socket._write = original.write;
      socket._writev = original.writev;
    }
    return writes;
  } finally {
    client.release();
  }
}

const transaction = (client: import("pg").PoolClient) => [client.query("BEGIN"), client.query("SELECT $1::int AS n", [1]), client.query("SELECT $1::int AS n", [2]), client.query("COMMIT")];

it("sends a transaction's statements in one write, and each still gets its own result", async () => {
  let results: any[] = [];
  const together = await countWrites(async (client) => {
    results = await Promise.all(sendTogether(client, () => transaction(client)));
  });
  expect(together).toBe(1);
  expect(results.map((r) => r.rows[0]?.n)).toEqual([undefined, 1, 2, undefined]);
  // Without it, node-postgres writes each statement on its own.
  const apart = await countWrites((client) => Promise.all(transaction(client)));
  expect(apart).toBe(4);
});

it("uncorks the socket when issuing throws, so the client keeps working", async () => {
  const client = await fixture.db.pool.connect();
  try {
    expect(() =>
      sendTogether(client, () => {
        void client.query("SELECT 1");
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect((client as any).connection.stream.writableCorked).toBe(0);
    expect((await client.query("SELECT 2 AS n")).rows[0].n).toBe(2);
  } finally {
    client.release();
  }
});
