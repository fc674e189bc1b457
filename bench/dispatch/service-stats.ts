// What the services did during a stage, for the BENCH_PG_STATS / BENCH_REDIS_STATS reports and
// the scheduler's own figures.
import pg from "pg";
import { Redis } from "ioredis";
import { fmt } from "./config.js";

/** Scheduling cycles and attempts, from the scheduler's /metrics (Prometheus text). */
export async function scrapeCycles(port: number): Promise<{ count: number; meanMs: number; over250ms: number; over500ms: number; unschedulable: number; errors: number }> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`)
    .then((r) => r.text())
    .catch(() => "");
  const value = (name: string) => Number(text.match(new RegExp(`^${name}\\{result="ok"\\} (\\S+)$`, "m"))?.[1] ?? NaN);
  const count = value("eiaas_scheduler_cycle_duration_seconds_count");
  const sum = value("eiaas_scheduler_cycle_duration_seconds_sum");
  const atMost = (le: string) => Number(text.match(new RegExp(`^eiaas_scheduler_cycle_duration_seconds_bucket\\{le="${le}",result="ok"\\} (\\S+)$`, "m"))?.[1] ?? NaN);
  const attempts = (result: string) => Number(text.match(new RegExp(`^eiaas_scheduling_attempts_total\\{result="${result}"\\} (\\S+)$`, "m"))?.[1] ?? 0);
  return { count, meanMs: (1000 * sum) / count, over250ms: count - atMost("0.25"), over500ms: count - atMost("0.5"), unschedulable: attempts("unschedulable"), errors: attempts("error") };
}

/** The statements Postgres spent most time on in this database (pg_stat_statements). */
export async function printStatements(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    const r = await c.query<{ ms: number; plan: number; calls: string; rows: string; q: string }>(
      `SELECT round(total_exec_time)::int AS ms, round(total_plan_time)::int AS plan, calls::text, rows::text, left(regexp_replace(regexp_replace(query, '\\s+', ' ', 'g'), '^WITH rv AS \\(UPDATE resource_version_counter SET value = value \\+ \\$\\d+(::bigint)? WHERE id = \\$\\d+ RETURNING value - \\$\\d+(::bigint)? AS base\\)', 'WITH rv … '), 150) AS q
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() ORDER BY total_exec_time + total_plan_time DESC LIMIT 25`,
    );
    console.log("  Postgres time by statement (execution ms, planning ms, calls, rows):");
    for (const row of r.rows) console.log(`    ${String(row.ms).padStart(7)} ${String(row.plan).padStart(7)} ${row.calls.padStart(7)} ${row.rows.padStart(8)}  ${row.q}`);
    const t = await c.query<{ relname: string; upd: string; hot: string; ins: string; seq: string; seqrows: string; vac: string; an: string }>(
      `SELECT relname, n_tup_upd::text AS upd, n_tup_hot_upd::text AS hot, n_tup_ins::text AS ins, seq_scan::text AS seq, seq_tup_read::text AS seqrows,
              (vacuum_count + autovacuum_count)::text AS vac, (analyze_count + autoanalyze_count)::text AS an
       FROM pg_stat_user_tables WHERE n_tup_upd + n_tup_ins + seq_tup_read > 0 ORDER BY n_tup_upd + n_tup_ins + seq_tup_read DESC LIMIT 10`,
    );
    console.log("  Rows by table (inserted, updated, of which heap-only; sequential scans, rows they read; vacuums, analyzes):");
    for (const row of t.rows)
      console.log(
        `    ${row.ins.padStart(8)} ${row.upd.padStart(8)} ${row.hot.padStart(8)} ${row.seq.padStart(7)} ${row.seqrows.padStart(10)} ${row.vac.padStart(4)} ${row.an.padStart(4)}  ${row.relname}`,
      );
    const w = await c.query<{ records: string; fpi: string; mb: string; syncs: string; checkpoints: string }>(
      `SELECT wal_records::text AS records, wal_fpi::text AS fpi, round(wal_bytes / 1048576.0)::text AS mb, wal_sync::text AS syncs, (SELECT num_timed + num_requested FROM pg_stat_checkpointer)::text AS checkpoints FROM pg_stat_wal`,
    );
    const wr = w.rows[0]!;
    console.log(`  WAL (whole server): ${wr.records} records, ${wr.fpi} full-page images, ${wr.mb} MB, ${wr.syncs} syncs; ${wr.checkpoints} checkpoints`);
    const s = await c.query<{ kind: string; type: string; n: string; text: string; stored: string }>(
      `SELECT kind, type, count(*)::text AS n, round(avg(length(object::text)))::text AS text, round(avg(pg_column_size(object)))::text AS stored FROM watch_events GROUP BY 1, 2 ORDER BY count(*) DESC`,
    );
    console.log("  Watch log (events, mean bytes as JSON text, mean bytes stored):");
    for (const row of s.rows) console.log(`    ${row.n.padStart(8)} ${row.text.padStart(6)} ${row.stored.padStart(6)}  ${row.kind} ${row.type}`);
  } finally {
    await c.end();
  }
}

/** Redis' command counters from zero (CONFIG RESETSTAT), at the first measured arrival. */
export async function resetRedisStats(redisUrl: string): Promise<void> {
  const r = new Redis(redisUrl);
  try {
    await r.config("RESETSTAT");
  } finally {
    r.disconnect();
  }
}

/** The commands (Lua scripts among them) Redis spent most time on since the reset, per task. */
export async function printRedisCommands(redisUrl: string, tasks: number): Promise<void> {
  const r = new Redis(redisUrl);
  try {
    const text = await r.info("commandstats");
    const rows = [...text.matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm)].map((m) => ({ cmd: m[1]!, calls: Number(m[2]), usec: Number(m[3]) }));
    rows.sort((a, b) => b.usec - a.usec);
    const total = rows.reduce((a, x) => a + x.usec, 0);
    console.log(`  Redis time by command since the first measured arrival (${fmt(total / 1000)} ms in commands, ${fmt(total / Math.max(1, tasks))} µs per task; calls per task, µs per call):`);
    for (const x of rows.slice(0, 15))
      console.log(`    ${fmt(x.usec / 1000).padStart(7)} ms ${fmt(x.calls / Math.max(1, tasks), 2).padStart(7)} ${fmt(x.usec / Math.max(1, x.calls), 1).padStart(7)}  ${x.cmd}`);
  } finally {
    r.disconnect();
  }
}

/** The fleet's node names, as the agents consume their queues. */
export async function pgNodeNames(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ name: string }>("SELECT name FROM edge_nodes")).rows.map((r) => r.name);
  } finally {
    await c.end();
  }
}
