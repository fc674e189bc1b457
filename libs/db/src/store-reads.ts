import type { KindInfo } from "@eiaas/api";
import type pg from "pg";
import { rowToObject, type ObjectRow, type StoredObject } from "./codec.js";
import { StoreError } from "./errors.js";
import { listSql, type ContinueToken } from "./list-sql.js";
import { dependentKinds } from "./ownership.js";
import type { ListOptions, ListResult } from "./store-types.js";
import { dbSpan } from "./tracing.js";
import type { WriteOp } from "./write-sql.js";

// The object store's reads of the tables: single objects, pages of a list at one resourceVersion
// (what a client lists and then watches from), an owner's dependents, a write's miss explained.
// Every-object lists at a version for an informer are list-snapshot.ts's; the writes are
// object-store.ts's and batch-write.ts's.

async function rowsOf<R extends pg.QueryResultRow>(pool: pg.Pool, text: string, values: unknown[] = []): Promise<R[]> {
  return (await pool.query<R>(text, values)).rows;
}

/** Largest page a list reads (its LIMIT parameter, limit + 1, is a Postgres int). */
const MAX_LIST_LIMIT = 2 ** 31 - 2;

export async function getObject(pool: pg.Pool, kind: KindInfo, namespace: string | undefined, name: string): Promise<StoredObject | null> {
  const rows = await dbSpan("SELECT", kind.table, () => rowsOf<ObjectRow>(pool, `SELECT * FROM "${kind.table}" WHERE namespace = $1 AND name = $2`, [kind.namespaced ? (namespace ?? "") : "", name]));
  return rows[0] ? rowToObject(kind, rows[0]) : null;
}

/** The objects of these names that exist (one statement; any order). */
export async function getObjects(pool: pg.Pool, kind: KindInfo, keys: ReadonlyArray<{ namespace?: string; name: string }>): Promise<StoredObject[]> {
  if (keys.length === 0) return [];
  const rows = await dbSpan("SELECT", kind.table, () =>
    rowsOf<ObjectRow>(pool, `SELECT t.* FROM "${kind.table}" t JOIN unnest($1::text[], $2::text[]) AS k(namespace, name) ON t.namespace = k.namespace AND t.name = k.name`, [
      keys.map((k) => (kind.namespaced ? (k.namespace ?? "") : "")),
      keys.map((k) => k.name),
    ]),
  );
  return rows.map((r) => rowToObject(kind, r));
}

export async function getObjectByUid(pool: pg.Pool, kind: KindInfo, uid: string): Promise<StoredObject | null> {
  const rows = await rowsOf<ObjectRow>(pool, `SELECT * FROM "${kind.table}" WHERE uid = $1::uuid`, [uid]);
  return rows[0] ? rowToObject(kind, rows[0]) : null;
}

/** A continue token as the client sent it back: its strings go into the query (no NUL there). */
function parseContinue(text: string): ContinueToken {
  try {
    const token = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as ContinueToken;
    if (typeof token.ns !== "string" || typeof token.name !== "string" || typeof token.rv !== "string") throw new Error();
    if (token.ns.includes("\u0000") || token.name.includes("\u0000") || !/^\d{1,19}$/.test(token.rv)) throw new Error();
    return token;
  } catch {
    throw new StoreError("Invalid", "continue: invalid continue token");
  }
}

/** Lists in (namespace, name) order, paged by a continue token. */
export async function listObjects(pool: pg.Pool, kind: KindInfo, options: ListOptions = {}): Promise<ListResult> {
  const token = options.continue ? parseContinue(options.continue) : undefined;
  // The query's LIMIT is an int (of limit + 1): a larger limit than any table holds means "all".
  const limit = options.limit && options.limit > 0 ? Math.min(options.limit, MAX_LIST_LIMIT) : undefined;
  const { sql, params } = listSql(kind, { ...options, limit: limit !== undefined ? limit + 1 : undefined }, token);
  // One statement, one snapshot: the rows are exactly the state at the list's resourceVersion,
  // so a watch started from it misses nothing and repeats nothing.
  const rows = await dbSpan("SELECT", kind.table, () =>
    rowsOf<ObjectRow & { list_rv: string }>(pool, `SELECT c.value::text AS list_rv, t.* FROM resource_version_counter c LEFT JOIN LATERAL (${sql}) t ON true WHERE c.id = 1`, params),
  );
  const listRv = token?.rv ?? rows[0]?.list_rv ?? "0";
  const items = rows.filter((r) => r.uid !== null).map((r) => rowToObject(kind, r));
  const result: ListResult = { items, resourceVersion: listRv };
  if (limit !== undefined && items.length > limit) {
    items.length = limit;
    const last = items[limit - 1]!;
    const next: ContinueToken = { ns: last.metadata.namespace ?? "", name: last.metadata.name, rv: listRv };
    result.continue = Buffer.from(JSON.stringify(next)).toString("base64url");
  }
  return result;
}

/**
 * The objects of `kind`'s dependent kinds (`dependentKinds`) that name `owner` as an owner, as
 * they are now: what its delete cascades to, orphans or waits for.
 */
export async function dependentsOf(pool: pg.Pool, kind: KindInfo, owner: StoredObject): Promise<Array<{ kind: KindInfo; object: StoredObject }>> {
  const out: Array<{ kind: KindInfo; object: StoredObject }> = [];
  for (const dep of dependentKinds(kind)) {
    // Tasks carry their owner's uid (the controller's, else the first's) in an indexed column:
    // no scan of every task per workload deleted. Other kinds match their owner references.
    const rows =
      dep.kind === "Task"
        ? await rowsOf<ObjectRow>(pool, `SELECT * FROM tasks WHERE owner_uid = $1::uuid`, [owner.metadata.uid])
        : await rowsOf<ObjectRow>(pool, `SELECT * FROM "${dep.table}" WHERE owner_references @> $1::jsonb`, [JSON.stringify([{ uid: owner.metadata.uid }])]);
    for (const row of rows) out.push({ kind: dep, object: rowToObject(dep, row) });
  }
  return out;
}

/**
 * The objects of `kind` marked for deletion that still hold one of `finalizers` (one statement):
 * what a controller that lifts those finalizers has left to do.
 */
export async function markedWith(pool: pg.Pool, kind: KindInfo, finalizers: readonly string[]): Promise<StoredObject[]> {
  const rows = await rowsOf<ObjectRow>(pool, `SELECT * FROM "${kind.table}" WHERE deletion_timestamp IS NOT NULL AND finalizers ?| $1::text[]`, [finalizers]);
  return rows.map((r) => rowToObject(kind, r));
}

/** After a conditional write matched no row: was it deleted (NotFound) or changed (Conflict)? */
export async function explainMiss(pool: pg.Pool, op: WriteOp): Promise<StoreError> {
  const rows = await rowsOf(pool, `SELECT resource_version FROM "${op.kind.table}" WHERE uid = $1::uuid`, [op.object.metadata.uid]);
  const name = op.object.metadata.name;
  if (rows.length === 0) return new StoreError("NotFound", `${op.kind.plural} "${name}" not found`, { kind: op.kind.plural, name });
  return new StoreError(
    "Conflict",
    `Operation cannot be fulfilled on ${op.kind.plural}.eiaas.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
  );
}
