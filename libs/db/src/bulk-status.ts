import type pg from "pg";
import type { KindInfo } from "@eiaas/api";
import { extraColumns, type StoredObject } from "./codec.js";
import { prepared } from "./prepared.js";
import { dbSpan } from "./tracing.js";
import { splitAtVersion, versionedJsonSql, WATCH_CHANNEL, type LoggedText } from "./write-sql.js";

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
  const r = await pool.query<{ uid: string; rv: string }>(
    prepared(`WITH rv AS (UPDATE resource_version_counter SET value = value + $2 WHERE id = 1 RETURNING value - $2 AS base),
     r AS (SELECT x.*, rv.base + x.i AS new_rv FROM rv, jsonb_to_recordset($1::jsonb) AS x(i bigint, uid uuid, expected bigint, status jsonb, phase text, attempt int, head text, tail text)),
     w AS (UPDATE "${kind.table}" t SET status = r.status, phase = r.phase, resource_version = r.new_rv${hasAttempt ? ", attempt = r.attempt" : ""}
           FROM r WHERE t.uid = r.uid AND t.resource_version = r.expected
           RETURNING t.uid, t.namespace, t.name, t.resource_version),
     ev AS (INSERT INTO watch_events (resource_version, kind, namespace, name, type, object)
            SELECT w.resource_version, $3, w.namespace, w.name, 'MODIFIED', ${versionedJsonSql("r.head", "w.resource_version", "r.tail")}
            FROM w JOIN r ON r.uid = w.uid
            RETURNING resource_version),
     n AS (SELECT pg_notify('${WATCH_CHANNEL}', (SELECT max(resource_version)::text FROM ev)))
     SELECT w.uid::text AS uid, w.resource_version::text AS rv, (SELECT count(*) FROM n) AS notified FROM w`,
    [JSON.stringify(rows), updates.length, kind.kind]),
  );
  const byUid = new Map(updates.map((u) => [u.object.metadata.uid, u]));
  return r.rows.map((row) => {
    const u = byUid.get(row.uid)!;
    return { ...u.object, status: u.status, metadata: { ...u.object.metadata, resourceVersion: row.rv } };
  });
}
