import type { KindInfo } from "@eiaas/api";
import type pg from "pg";
import { rowToObject, type ObjectRow, type StoredObject } from "./codec.js";

/** Every object of some kinds as of one resourceVersion. */
export interface ListedSnapshot {
  /** The version the list is at: every change up to it is in it, none after. */
  resourceVersion: bigint;
  /** Per kind, in the order asked, its objects in (namespace, name) order. */
  objects: Array<[KindInfo, StoredObject[]]>;
}

/**
 * Lists every object of `kinds` in one REPEATABLE READ snapshot that also reads the version
 * counter: the "list" half of list-then-watch (an informer tails the log from the version it
 * returns). Versions follow commit order, so the snapshot holds exactly the changes up to it.
 */
export async function listSnapshot(pool: pg.Pool, kinds: readonly KindInfo[]): Promise<ListedSnapshot> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const rv = await client.query<{ value: string }>(`SELECT value::text AS value FROM resource_version_counter WHERE id = 1`);
    const objects: ListedSnapshot["objects"] = [];
    for (const kind of kinds) {
      const rows = await client.query<ObjectRow>(`SELECT * FROM "${kind.table}" ORDER BY namespace, name`);
      objects.push([kind, rows.rows.map((row) => rowToObject(kind, row))]);
    }
    await client.query("COMMIT");
    return { resourceVersion: BigInt(rv.rows[0]?.value ?? "0"), objects };
  } catch (err) {
    failed = true;
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release(failed);
  }
}
