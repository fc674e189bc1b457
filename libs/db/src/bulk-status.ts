import type pg from "pg";
import type { KindInfo } from "@eiaas/api";
import { extraColumns, rowToObject, type ObjectRow, type StoredObject } from "./codec.js";
import { dbSpan } from "./tracing.js";
import { WATCH_CHANNEL } from "./write-sql.js";

export interface StatusUpdate {
  /** The object as read (its resourceVersion is the precondition). */
  object: StoredObject;
  status: Record<string, unknown>;
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
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const top = await client.query<{ value: string }>(`UPDATE resource_version_counter SET value = value + $1 WHERE id = 1 RETURNING value::text AS value`, [updates.length]);
    const first = BigInt(top.rows[0]!.value) - BigInt(updates.length) + 1n;
    const rows = updates.map((u, i) => {
      const cols = extraColumns(kind.kind, { ...u.object, status: u.status });
      return {
        uid: u.object.metadata.uid,
        expected: u.object.metadata.resourceVersion,
        rv: String(first + BigInt(i)),
        status: u.status,
        phase: (cols.phase as string | undefined) ?? "",
        attempt: (cols.attempt as number | undefined) ?? 0,
      };
    });
    const hasAttempt = kind.kind === "Task";
    const r = await client.query<ObjectRow>(
      `UPDATE "${kind.table}" t SET status = r.status, phase = r.phase, resource_version = r.rv${hasAttempt ? ", attempt = r.attempt" : ""}
       FROM jsonb_to_recordset($1::jsonb) AS r(uid uuid, expected bigint, rv bigint, status jsonb, phase text, attempt int)
       WHERE t.uid = r.uid AND t.resource_version = r.expected
       RETURNING t.*`,
      [JSON.stringify(rows)],
    );
    const written = r.rows.map((row) => rowToObject(kind, row));
    if (written.length) {
      const events = written.map((o) => ({ resource_version: o.metadata.resourceVersion, kind: kind.kind, namespace: o.metadata.namespace ?? "", name: o.metadata.name, type: "MODIFIED", object: o }));
      await client.query(
        `INSERT INTO watch_events (resource_version, kind, namespace, name, type, object)
         SELECT resource_version::bigint, kind, namespace, name, type, object
         FROM jsonb_to_recordset($1::jsonb) AS e(resource_version text, kind text, namespace text, name text, type text, object jsonb)`,
        [JSON.stringify(events)],
      );
      await client.query(`SELECT pg_notify('${WATCH_CHANNEL}', $1)`, [String(first + BigInt(updates.length) - 1n)]);
    }
    await client.query("COMMIT");
    return written;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
