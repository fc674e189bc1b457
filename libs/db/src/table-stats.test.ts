// A generic plan cached while `tasks` was empty scans the whole table once it has grown; ANALYZE
// of the grown table makes Postgres re-plan it with index probes.
import { expect, it } from "vitest";
import { useTestDatabase } from "@eiaas/testing";
import pg from "pg";
import { analyzeGrowingTables } from "./table-stats.js";

const fixture = useTestDatabase({ poolSize: 2 });

// The shape of the status writes: rows named by uid in a JSON parameter, joined to the table.
const STATUS_WRITE = `UPDATE tasks t SET phase = r.phase FROM jsonb_to_recordset($1::jsonb) AS r(uid uuid, phase text) WHERE t.uid = r.uid`;

/** Makes the pool's backends publish their row counts now rather than within the next second. */
async function flushStats(): Promise<void> {
  const c = await fixture.db.pool.connect();
  try {
    await c.query("SELECT pg_stat_force_next_flush()");
    await c.query("SELECT 1");
  } finally {
    c.release();
  }
}

async function plan(c: pg.Client): Promise<string> {
  const r = await c.query(`EXPLAIN EXECUTE status_write('[]')`);
  return r.rows.map((row) => row["QUERY PLAN"]).join("\n");
}

it("re-plans a cached statement over a table that grew, and leaves tables that did not alone", async () => {
  const session = new pg.Client({ connectionString: fixture.url });
  await session.connect();
  try {
    // As a long-lived pool connection: the generic plan, made while the table is empty.
    await session.query("SET plan_cache_mode = force_generic_plan");
    await session.query(`PREPARE status_write(jsonb) AS ${STATUS_WRITE}`);
    expect(await plan(session)).toMatch(/Seq Scan on tasks/);

    await fixture.db.pool.query(
      `INSERT INTO tasks (uid, namespace, name, resource_version, phase, node_name)
       SELECT gen_random_uuid(), 'ns', 't-' || i, i, 'Dispatched', 'n-' || (i % 50) FROM generate_series(1, 20000) i`,
    );
    await flushStats();
    expect(await plan(session)).toMatch(/Seq Scan on tasks/); // still the plan of an empty table

    expect(await analyzeGrowingTables(fixture.db.pool)).toContain("tasks");
    expect(await plan(session)).toMatch(/Index Scan using tasks_pkey on tasks/);

    // Nothing grew since: nothing to analyze. Nor a table whose rows are only rewritten (the
    // counter row every write updates), which would re-plan every write statement each time.
    for (let i = 0; i < 600; i++) await fixture.db.pool.query("UPDATE resource_version_counter SET value = value + 1 WHERE id = 1");
    await flushStats();
    expect(await analyzeGrowingTables(fixture.db.pool)).toEqual([]);

    // Doubled again, but analyzed at 20,000 rows already: left to autovacuum, unless the limit
    // says otherwise.
    await fixture.db.pool.query(
      `INSERT INTO tasks (uid, namespace, name, resource_version, phase, node_name)
       SELECT gen_random_uuid(), 'ns', 'u-' || i, 20000 + i, 'Dispatched', 'n-' || (i % 50) FROM generate_series(1, 20000) i`,
    );
    await flushStats();
    expect(await analyzeGrowingTables(fixture.db.pool)).toEqual([]);
    expect(await analyzeGrowingTables(fixture.db.pool, { maxAnalyzedRows: 50_000 })).toEqual(["tasks"]);
  } finally {
    await session.end();
  }
});

it("keeps statistics of the columns queries filter on, not of the JSON documents (their sorting made ANALYZE slow)", async () => {
  await fixture.db.pool.query(
    `INSERT INTO tasks (uid, namespace, name, resource_version, phase, node_name, spec, status)
     SELECT gen_random_uuid(), 'docs', 'd-' || i, 100000 + i, 'Running', 'n-' || (i % 7), jsonb_build_object('i', i), jsonb_build_object('phase', 'Running', 'i', i)
     FROM generate_series(1, 2000) i`,
  );
  await fixture.db.pool.query(`INSERT INTO watch_events (resource_version, kind, namespace, name, type, object) VALUES (1, 'Task', 'docs', 'd-1', 'ADDED', '{}')`);
  await fixture.db.pool.query("ANALYZE tasks, watch_events");
  const columns = async (table: string) =>
    (await fixture.db.pool.query<{ attname: string }>(`SELECT attname FROM pg_stats WHERE schemaname = current_schema() AND tablename = $1`, [table])).rows.map((r) => r.attname);
  const tasks = await columns("tasks");
  expect(tasks).toEqual(expect.arrayContaining(["uid", "namespace", "name", "phase", "node_name", "owner_uid", "resource_version", "labels"]));
  for (const document of ["spec", "status", "annotations", "owner_references", "finalizers"]) expect(tasks).not.toContain(document);
  const log = await columns("watch_events");
  expect(log).toContain("kind");
  expect(log).not.toContain("object");
});

it("paces autovacuum on the control plane's tables (a burst of it held task reports back)", async () => {
  const r = await fixture.db.pool.query<{ relname: string; reloptions: string[] | null }>(
    `SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname IN ('tasks', 'inference_services', 'watch_events', 'node_usage')`,
  );
  expect(r.rows).toHaveLength(4);
  for (const row of r.rows) expect(row.reloptions ?? []).toContain("autovacuum_vacuum_cost_delay=20");
});
