// A fleet's consumers enter their first wait together on one backend: the shared LISTEN client gets
// one LISTEN, not one concurrent query per queue (which pg deprecates: the demo printed a
// DeprecationWarning). Its own file: Node prints a deprecation once per process.
import { createTestDatabase } from "@eiaas/testing";
import { expect, it } from "vitest";
import { createPostgresQueueBackend } from "./postgres-backend.js";

it("LISTENs once for a fleet of consumers that start waiting together", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on("warning", onWarning);
  const db = await createTestDatabase();
  const fleet = createPostgresQueueBackend({ connectionString: db.url, poolSize: 4 });
  try {
    const consumers = Array.from({ length: 40 }, (_, i) => fleet.consumeNodeQueue(`listen-${i}`, async () => undefined));
    await Promise.all(consumers.map((c) => c.waitUntilReady()));
    // Ready Workers go on to their first wait, which LISTENs.
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } finally {
    await fleet.close();
    await db.drop();
    process.off("warning", onWarning);
  }
  expect(warnings.filter((w) => /already executing a query/.test(w))).toEqual([]);
});
