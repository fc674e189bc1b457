import type pg from "pg";
import { StoreError } from "./errors.js";
import type { StoredObject } from "./codec.js";
import { prepared } from "./prepared.js";

/** One entry of the watch log: a committed change of one object, at its resourceVersion. */
export interface WatchEventRecord {
  resourceVersion: bigint;
  kind: string;
  namespace: string;
  name: string;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: StoredObject;
}

interface Row {
  resource_version: string;
  kind: string;
  namespace: string;
  name: string;
  type: WatchEventRecord["type"];
  object: StoredObject;
}

function toRecord(r: Row): WatchEventRecord {
  return { resourceVersion: BigInt(r.resource_version), kind: r.kind, namespace: r.namespace, name: r.name, type: r.type, object: r.object };
}

/** The newest resourceVersion handed out (committed or about to be). */
export async function readCounter(db: Pick<pg.Pool, "query">): Promise<bigint> {
  const r = await db.query<{ value: string }>(`SELECT value::text AS value FROM resource_version_counter WHERE id = 1`);
  return BigInt(r.rows[0]?.value ?? "0");
}

/** What a read of the log after a cursor found. */
export interface LogPage {
  /** The oldest resumable version: entries at or below it may be gone (compacted). */
  compacted: bigint;
  /** Entries after the cursor, in version order, at most the page size. */
  events: WatchEventRecord[];
}

/**
 * The log after `cursor` (of `kinds` only), with the compaction mark read in the same statement
 * (one snapshot): when the mark is past the cursor, entries the reader needs may be gone and only
 * a re-list is exact (Kubernetes' "410 Gone"). The first row carries the mark even when the log has
 * nothing new (then it is the only row).
 */
export async function readLogAfter(db: Pick<pg.Pool, "query">, cursor: bigint, kinds: readonly string[], pageSize: number): Promise<LogPage> {
  const r = await db.query<Row & { compacted: string }>(
    prepared(
      `SELECT c.resource_version::text AS compacted, e.resource_version::text AS resource_version, e.kind, e.namespace, e.name, e.type, e.object
       FROM watch_compaction c
       LEFT JOIN LATERAL (SELECT resource_version, kind, namespace, name, type, object FROM watch_events
                          WHERE resource_version > $1 AND kind = ANY($2::text[]) ORDER BY resource_version LIMIT ${Math.floor(pageSize)}) e ON true
       WHERE c.id = 1 ORDER BY e.resource_version`,
      [cursor.toString(), kinds],
    ),
  );
  return { compacted: BigInt(r.rows[0]?.compacted ?? "0"), events: r.rows.filter((row) => row.resource_version !== null).map(toRecord) };
}

/**
 * The log of `kind` after `from` up to `upTo` (for a resuming watcher). Gone when `from` is older
 * than the oldest resumable version.
 */
export async function readBacklog(db: Pick<pg.Pool, "query">, from: bigint, kind: string, upTo: bigint): Promise<WatchEventRecord[]> {
  const oldest = await db.query<{ resource_version: string }>(`SELECT resource_version::text FROM watch_compaction WHERE id = 1`);
  const compacted = BigInt(oldest.rows[0]?.resource_version ?? "0");
  if (from < compacted) {
    throw new StoreError("Gone", `too old resource version: ${from} (${compacted})`);
  }
  const r = await db.query<Row>(
    `SELECT resource_version::text, kind, namespace, name, type, object FROM watch_events
     WHERE kind = $1 AND resource_version > $2 AND resource_version <= $3 ORDER BY watch_events.resource_version`,
    [kind, from.toString(), upTo.toString()],
  );
  return r.rows.map(toRecord);
}

/** Drops log entries written before `cutoff` and records the oldest version still resumable. */
export async function compactLog(db: Pick<pg.Pool, "query">, cutoff: Date): Promise<void> {
  await db.query(
    `WITH d AS (DELETE FROM watch_events WHERE created_at < $1 RETURNING resource_version)
     UPDATE watch_compaction SET resource_version = GREATEST(resource_version, (SELECT max(resource_version) FROM d))
     WHERE id = 1 AND EXISTS (SELECT 1 FROM d)`,
    [cutoff],
  );
}
