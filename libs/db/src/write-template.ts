/**
 * The one write template: every statement that changes objects — the object store's writes, the
 * binder's, bulk status — is built here, so taking resourceVersions, appending to the watch log
 * and notifying are spelled out once (as kube-apiserver's one storage interface sits under both
 * its registry and its watch cache). A writer brings its own CTEs (what it reads and mutates) and
 * says which rows are logged; the template wraps them:
 *
 *   WITH rv AS (take versions),            -- absent in a pipelined batch (RESERVE_VERSIONS_SQL took them)
 *        <the writer's CTEs>,              -- numbered with `version(k)`
 *        ev AS (INSERT INTO watch_events …),
 *        done AS (SELECT <checks>, pg_notify(…))
 *   SELECT <result> FROM done [LEFT JOIN <rows> ON true]
 *
 * `write-template.test.ts` fails when SQL touching the watch log, the counter or the channel appears
 * anywhere else in the tree.
 */

/** Channel on which every committed change is announced (payload: a resourceVersion at or past it). */
export const WATCH_CHANNEL = "eiaas_watch";

/** SQL of the logged object: `head || version || tail` (see `splitAtVersion`), as json. */
export const versionedJsonSql = (head: string, version: string, tail: string) => `(${head} || ${version}::text || ${tail})::json`;

/**
 * The first statement of a pipelined batch: takes `$1` versions (locking the counter row until
 * commit) and keeps the base in a transaction-local setting, so the statements sent after it,
 * before its answer is back, can number their rows.
 */
export const RESERVE_VERSIONS_SQL = `WITH rv AS (UPDATE resource_version_counter SET value = value + $1 WHERE id = 1 RETURNING value - $1 AS base)
SELECT set_config('eiaas.rv_base', base::text, true) AS base FROM rv`;

/** The last statement of a pipelined batch of `$1` versions: one notification. */
export const NOTIFY_RESERVED_SQL = `SELECT pg_notify('${WATCH_CHANNEL}', (current_setting('eiaas.rv_base')::bigint + $1)::text)`;

/**
 * Where a statement's versions come from. `take`: it takes its own block of that many versions
 * (an SQL expression, usually a parameter), locking the counter row until it commits, and
 * notifies — it is its transaction. `reserved`: it numbers from the block RESERVE_VERSIONS_SQL
 * took earlier in its transaction, whose last statement (NOTIFY_RESERVED_SQL) notifies.
 */
export type Versions = { take: string } | { reserved: true };

/** Rows of one kind of change the watch log gets; every field is an SQL expression over `from`. */
export interface LoggedRows {
  /** FROM clause (joins and filters included) of the logged rows. */
  from: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
  /** ADDED, MODIFIED or DELETED. */
  type: string;
  /** The object's text before and after its version (`splitAtVersion`). */
  head: string;
  tail: string;
}

export interface WriteStatement {
  /** The writer's CTEs (`name AS (…)`), in order: its inputs and its mutations. */
  steps: readonly string[];
  /** What the watch log gets (UNION ALL of each). */
  logged: readonly LoggedRows[];
  /**
   * Columns of the one `done` row, evaluated after the writes: checks that abort the statement
   * (`eiaas_expect_rows`, quota admission) and figures the result reads as `done.<name>`.
   */
  checks?: readonly string[];
  /** The result's columns. */
  select: string;
  /** Rows the result lists, LEFT JOINed to `done` (one all-null row when there are none). */
  rows?: string;
}

/** A write statement's numbering and its SQL (see the module comment). */
export class WriteTemplate {
  /** SQL of the base of the statement's block: its k-th version is `base + k` (1-based). */
  readonly base: string;

  constructor(private readonly versions: Versions) {
    this.base = "take" in versions ? "(SELECT base FROM rv)" : "current_setting('eiaas.rv_base')::bigint";
  }

  /** SQL of the k-th version of the block (k: a number or an SQL expression). */
  version(k: number | string): string {
    return `(${this.base} + ${k})`;
  }

  sql(s: WriteStatement): string {
    const v = this.versions;
    const take = "take" in v ? [`rv AS (UPDATE resource_version_counter SET value = value + ${v.take} WHERE id = 1 RETURNING value - ${v.take} AS base)`] : [];
    const log = s.logged
      .map((l) => `SELECT ${l.version}, ${l.kind}, ${l.namespace}, ${l.name}, ${l.type}, ${versionedJsonSql(l.head, l.version, l.tail)} FROM ${l.from}`)
      .join("\n       UNION ALL\n       ");
    // The notification carries the top of the block: versions are ordered, not dense, and a
    // listener reads the log past its cursor whatever the payload.
    const notify = "take" in v ? [`pg_notify('${WATCH_CHANNEL}', (${this.base} + ${v.take})::text) AS notified`] : [];
    const done = [...(s.checks ?? []), ...notify];
    const ctes = [
      ...take,
      ...s.steps,
      `ev AS (INSERT INTO watch_events (resource_version, kind, namespace, name, type, object)\n       ${log})`,
      `done AS (SELECT ${done.length ? done.join(", ") : "true AS ok"})`,
    ];
    return `WITH ${ctes.join(",\n")}\nSELECT ${s.select} FROM done${s.rows ? ` LEFT JOIN ${s.rows} ON true` : ""}`;
  }
}
