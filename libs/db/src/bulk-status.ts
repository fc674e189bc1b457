import type pg from "pg";
import type { KindInfo } from "@eiaas/api";
import { extraColumns, type StoredObject } from "./codec.js";
import { prepared } from "./prepared.js";
import { dbSpan } from "./tracing.js";
import { splitAtVersion, type LoggedText } from "./write-sql.js";
import { WriteTemplate } from "./write-template.js";

export interface StatusUpdate {
  /** The object as read (its resourceVersion is the precondition). */
  object: StoredObject;
  status: Record<string, unknown>;
  /** The object with this status as {@link splitAtVersion} gives it, when the caller made it. */
  logged?: LoggedText;
}

/**
 * Writes many status updates of one kind in one statement (dispatch marking, node lifecycle,
 * task reports): each row only if it still has the version it was read at — the rest are skipped
 * and returned as not written, for the caller's next pass. Returns the written objects.
 */
export async function bulkUpdateStatus(pool: pg.Pool, kind: KindInfo, updates: readonly StatusUpdate[]): Promise<StoredObject[]> {
  if (updates.length === 0) return [];
  return dbSpan("UPDATE", kind.table, () => writeStatuses(pool, kind, updates), { attributes: { "db.operation.batch.size": updates.length } });
}

async function writeStatuses(pool: pg.Pool, kind: KindInfo, updates: readonly StatusUpdate[]): Promise<StoredObject[]> {
  const rows = updates.map((u, i) => {
    const cols = extraColumns(kind.kind, { ...u.object, status: u.status });
    return {
      i: i + 1,
      uid: u.object.metadata.uid,
      expected: u.object.metadata.resourceVersion,
      status: u.status,
      phase: (cols.phase as string | undefined) ?? "",
      attempt: (cols.attempt as number | undefined) ?? 0,
      // What watchers see: the object as read with its new status, its version joined in below.
      ...(u.logged ?? splitAtVersion({ ...u.object, status: u.status })),
    };
  });
  const hasAttempt = kind.kind === "Task";
  // One statement, so the counter row (every writer's lock, held to commit) is held for one
  // round trip: take the versions, update the rows still at their expected version, log them.
  const t = new WriteTemplate({ take: "$2" });
  const sql = t.sql({
    steps: [
      `r AS (SELECT x.*, ${t.version("x.i")} AS new_rv FROM jsonb_to_recordset($1::jsonb) AS x(i bigint, uid uuid, expected bigint, status jsonb, phase text, attempt int, head text, tail text))`,
      `w AS (UPDATE "${kind.table}" t SET status = r.status, phase = r.phase, resource_version = r.new_rv${hasAttempt ? ", attempt = r.attempt" : ""}
           FROM r WHERE t.uid = r.uid AND t.resource_version = r.expected
           RETURNING t.uid, t.namespace, t.name, t.resource_version)`,
    ],
    logged: [{ from: "w JOIN r ON r.uid = w.uid", version: "w.resource_version", kind: "$3::text", namespace: "w.namespace", name: "w.name", type: "'MODIFIED'", head: "r.head", tail: "r.tail" }],
    select: "w.uid::text AS uid, w.resource_version::text AS rv",
    rows: "w",
  });
  const r = await pool.query<{ uid: string | null; rv: string }>(prepared(sql, [JSON.stringify(rows), updates.length, kind.kind]));
  const byUid = new Map(updates.map((u) => [u.object.metadata.uid, u]));
  return r.rows.flatMap((row) => {
    if (row.uid === null) return []; // none written: the one row of the statement's checks
    const u = byUid.get(row.uid)!;
    return [{ ...u.object, status: u.status, metadata: { ...u.object.metadata, resourceVersion: row.rv } }];
  });
}
