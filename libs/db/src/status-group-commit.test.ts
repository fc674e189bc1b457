// ObjectStore.updateStatus group commit: concurrent status writes share one transaction, and each
// caller still gets exactly what a single write would answer (the object, Conflict or NotFound).
import { expect, it } from "vitest";
import { useTestDatabase } from "@eiaas/testing";
import { API_VERSION, kindInfo } from "@eiaas/api";
import type pg from "pg";
import { StoreError } from "./errors.js";
import { ObjectStore } from "./object-store.js";

const NODE = kindInfo("EdgeNode");
const TASK = kindInfo("Task");
const fixture = useTestDatabase({ poolSize: 5 });

/** The pool, counting the transactions (connect) and single statements (query) it serves. */
function counting(pool: pg.Pool) {
  const counts = { connect: 0, query: 0 };
  const proxy = new Proxy(pool, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === "connect") return (...a: unknown[]) => (counts.connect++, (v as (...args: unknown[]) => unknown).apply(target, a));
      if (prop === "query") return (...a: unknown[]) => (counts.query++, (v as (...args: unknown[]) => unknown).apply(target, a));
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { pool: proxy as pg.Pool, counts };
}

it("writes concurrent status updates in one transaction, answering each as a single write would", async () => {
  const plain = new ObjectStore(fixture.db.pool);
  await plain.create(kindInfo("Tenant"), { apiVersion: API_VERSION, metadata: { name: "acme" }, spec: {} } as any);
  const tasks = [];
  for (let i = 0; i < 40; i++) {
    tasks.push(
      await plain.create(TASK, {
        apiVersion: API_VERSION,
        metadata: { name: `t-${i}`, namespace: "acme" },
        spec: { nodeName: "n", role: "serve" },
        status: { phase: "Dispatched", attempt: 1 },
      } as any),
    );
  }
  const node = await plain.create(NODE, { apiVersion: API_VERSION, metadata: { name: "n" }, spec: { tier: "edge" } } as any);
  const stale = await plain.updateStatus(TASK, tasks[0]!, { phase: "Dispatched", attempt: 1, note: "moved on" });
  const gone = tasks[1]!;
  await plain.delete(TASK, gone);

  const { pool, counts } = counting(fixture.db.pool);
  const store = new ObjectStore(pool);
  const results = await Promise.allSettled([
    // tasks[0] is stale (written above), tasks[1] deleted, the rest current; one node too.
    ...tasks.map((t, i) => store.updateStatus(TASK, t, { phase: "Running", attempt: 1, i })),
    store.updateStatus(NODE, node, { phase: "Ready" }),
    // A second write of the same task in the same moment goes into the next batch, and loses
    // against the first as a single write with the same expected version would.
    store.updateStatus(TASK, tasks[2]!, { phase: "Failed", attempt: 1 }),
  ]);
  const reasons = results.map((r) => (r.status === "fulfilled" ? "ok" : r.reason instanceof StoreError ? r.reason.reason : String(r.reason)));
  expect(reasons[0]).toBe("Conflict");
  expect(reasons[1]).toBe("NotFound");
  expect(reasons.slice(2, 40)).toEqual(Array(38).fill("ok"));
  expect(reasons[40]).toBe("ok");
  expect(reasons[41]).toBe("Conflict");
  const written = results[5] as PromiseFulfilledResult<any>;
  expect(written.value.status).toEqual({ phase: "Running", attempt: 1, i: 5 });
  expect(Number(written.value.metadata.resourceVersion)).toBeGreaterThan(Number(tasks[5]!.metadata.resourceVersion));
  // 42 writes: a transaction per kind for the first batch, one more for the repeat, plus the
  // explanations of the two misses — instead of 42 commits.
  expect(counts.connect).toBeLessThanOrEqual(3);
  expect(counts.connect + counts.query).toBeLessThan(10);

  // What was written is what a reader sees, with a watch event each.
  expect((await plain.get(TASK, "acme", "t-5"))!.status.phase).toBe("Running");
  expect((await plain.get(TASK, "acme", "t-0"))!.status).toEqual(stale.status);
  const ev = await fixture.db.pool.query(`SELECT count(*)::int AS n FROM watch_events WHERE kind = 'Task' AND type = 'MODIFIED' AND object->'status'->>'phase' = 'Running'`);
  expect(ev.rows[0].n).toBe(38);
  // A lone write still goes through alone.
  const lone = await store.updateStatus(NODE, (await plain.get(NODE, undefined, "n"))!, { phase: "NotReady" });
  expect(lone.status).toEqual({ phase: "NotReady" });
});
