import type pg from "pg";

export interface GrowingTablesOptions {
  /** Live rows below which a table is left alone. Default 500. */
  minRows?: number;
  /**
   * Rows a table had at its last ANALYZE above which it is left to autovacuum: its plans already
   * probe the indexes, and another ANALYZE would only re-plan every statement on it in every
   * connection. Default 5,000.
   */
  maxAnalyzedRows?: number;
}

/**
 * ANALYZEs the tables whose live rows at least doubled since their last ANALYZE, and returns their
 * names. Rows updated in place do not count: the resource-version counter's one row is rewritten
 * by every write, and re-planning every write statement for it would cost more than it saves.
 *
 * Why: the hot writes are named prepared statements, and Postgres keeps the generic plan it made
 * when a connection first ran them. Made while a table was young and tiny, that plan scans it (a
 * hash join over a sequential scan beats index probes on a few pages) and stays cached while the
 * table grows, until an ANALYZE invalidates it. Autovacuum analyzes at most once per
 * `autovacuum_naptime` (a minute) per database; in the meantime, measured under `bench:dispatch`
 * on a fresh database, the task status writes read ~6 million rows of `tasks` in 30 s. Mature
 * tables rarely double between autovacuum's passes, so this acts on young ones, once per doubling,
 * until one was analyzed with `maxAnalyzedRows`: at 500 tasks/s the ANALYZE of `tasks` at ~16,000
 * rows (and the re-planning after it) held reports back for a second, and the slowest tasks of
 * that second took 500-1,000 ms, where the plans it would fix were already index probes.
 */
export async function analyzeGrowingTables(pool: pg.Pool, options: GrowingTablesOptions = {}): Promise<string[]> {
  const r = await pool.query<{ relname: string }>(
    `SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     WHERE s.schemaname = current_schema() AND s.relname <> 'watch_events' AND s.n_live_tup >= GREATEST($1::bigint, 2 * GREATEST(c.reltuples, 0)::bigint)
       AND c.reltuples < $2
     ORDER BY s.relname`,
    [options.minRows ?? 500, options.maxAnalyzedRows ?? 5_000],
  );
  const names = r.rows.map((row) => row.relname);
  // One statement: one round trip, tables analyzed one after the other in their own transactions.
  if (names.length) await pool.query(`ANALYZE ${names.map((n) => `"${n.replaceAll('"', '""')}"`).join(", ")}`);
  return names;
}
