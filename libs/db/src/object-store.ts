import { randomUUID } from "node:crypto";
import type { KindInfo, ObjectMeta } from "@eiaas/api";
import type pg from "pg";
import { formatTime, metadataMaps, rowToObject, type ObjectRow, type StoredObject } from "./codec.js";
import { bulkUpdateStatus } from "./bulk-status.js";
import { StoreError, isUniqueViolation } from "./errors.js";
import { listSql, type ContinueToken } from "./list-sql.js";
import { dependentKinds } from "./ownership.js";
import { prepared } from "./prepared.js";
import { sendTogether } from "./pipeline.js";
import type { CreateOptions, ListOptions, ListResult, NewObject, ObjectStoreOptions, WriteOptions } from "./store-types.js";
import { dbSpan } from "./tracing.js";
import { CreateBatcher } from "./create-batcher.js";
import { StatusBatcher } from "./status-batcher.js";
import { admitObjectSize, DEFAULT_MAX_OBJECT_BYTES, isCounted, quotaExceeded } from "./object-limits.js";
import {
  batchCreateRunSql,
  batchOpSql,
  QUOTA_EXCEEDED,
  watchObject,
  WRITE_MISSED,
  type CountQuota,
  type WriteOp,
} from "./write-sql.js";
import { NOTIFY_RESERVED_SQL, RESERVE_VERSIONS_SQL } from "./write-template.js";

export type { CreateOptions, ListOptions, ListResult, NewObject, ObjectStoreOptions, WriteOptions } from "./store-types.js";

const SQL_VERB: Record<WriteOp["type"], string> = { create: "INSERT", update: "UPDATE", delete: "DELETE" };

/** Runs SQL: the pool, or one client inside a transaction. */
interface Sql {
  query<R extends pg.QueryResultRow = any>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

async function rowsOf<R extends pg.QueryResultRow>(db: Sql, text: string, values: unknown[] = []): Promise<R[]> {
  return (await db.query<R>(text, values)).rows;
}

/**
 * A batch statement, prepared when its shape is one of few: one op, or a run of creates short
 * enough (the API's grouped creates, a cycle's events) that its VALUES list has a handful of
 * lengths. Longer runs (seeded fleets) are parsed each time.
 */
function batchQuery(s: { sql: string; params: unknown[]; ops: number[] }): pg.QueryConfig {
  return s.ops.length <= 16 ? prepared(s.sql, s.params) : { text: s.sql, values: s.params };
}

/** Most rows in one multi-row INSERT (≈ 15 parameters each, under Postgres' 65,535). */
const MULTI_INSERT_MAX = 1000;

/** Largest page a list reads (its LIMIT parameter, limit + 1, is a Postgres int). */
const MAX_LIST_LIMIT = 2 ** 31 - 2;

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v as object)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/**
 * Generic storage of every kind (the role etcd plays for Kubernetes): objects in per-kind tables,
 * resourceVersions handed out in commit order, every change appended to the watch log and
 * announced with NOTIFY. Semantics follow Kubernetes' generic registry: uid/creationTimestamp are
 * server-set, generation counts spec changes, finalizers turn delete into "mark for deletion".
 */
export class ObjectStore {
  private readonly creates = new CreateBatcher({ writeOne: (op) => this.writeOne(op), applyBatch: (ops) => this.applyBatch(ops) });
  private readonly statuses = new StatusBatcher({
    writeOne: (op) => this.writeOne(op),
    writeMany: (kind, writes) =>
      bulkUpdateStatus(this.pool, kind, writes.map(({ object, logged }) => ({ object, status: object.status ?? {}, ...(logged ? { logged } : {}) }))),
    explainMiss: (op) => this.explainMiss(op),
  });
  /** See {@link ObjectStoreOptions.maxObjectBytes}. */
  readonly maxObjectBytes: number;

  /**
   * Takes the pg pool directly (the same pool Prisma runs on, see createDatabase): on these hot
   * paths Prisma's raw-query layer costs ~5x a plain pg round trip (measured: 580 vs 2,900 gets/s).
   */
  constructor(
    private readonly pool: pg.Pool,
    options: ObjectStoreOptions = {},
  ) {
    this.maxObjectBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
  }

  async get(kind: KindInfo, namespace: string | undefined, name: string): Promise<StoredObject | null> {
    const rows = await dbSpan("SELECT", kind.table, () =>
      rowsOf<ObjectRow>(this.pool, `SELECT * FROM "${kind.table}" WHERE namespace = $1 AND name = $2`, [kind.namespaced ? (namespace ?? "") : "", name]),
    );
    return rows[0] ? rowToObject(kind, rows[0]) : null;
  }

  /** The objects of these names that exist (one statement; any order). */
  async getMany(kind: KindInfo, keys: ReadonlyArray<{ namespace?: string; name: string }>): Promise<StoredObject[]> {
    if (keys.length === 0) return [];
    const rows = await dbSpan("SELECT", kind.table, () =>
      rowsOf<ObjectRow>(this.pool, `SELECT t.* FROM "${kind.table}" t JOIN unnest($1::text[], $2::text[]) AS k(namespace, name) ON t.namespace = k.namespace AND t.name = k.name`, [
        keys.map((k) => (kind.namespaced ? (k.namespace ?? "") : "")),
        keys.map((k) => k.name),
      ]),
    );
    return rows.map((r) => rowToObject(kind, r));
  }

  async getByUid(kind: KindInfo, uid: string): Promise<StoredObject | null> {
    const rows = await rowsOf<ObjectRow>(this.pool, `SELECT * FROM "${kind.table}" WHERE uid = $1::uuid`, [uid]);
    return rows[0] ? rowToObject(kind, rows[0]) : null;
  }

  /** Lists in (namespace, name) order, paged by a continue token. */
  async list(kind: KindInfo, options: ListOptions = {}): Promise<ListResult> {
    let token: ContinueToken | undefined;
    if (options.continue) {
      try {
        token = JSON.parse(Buffer.from(options.continue, "base64url").toString("utf8")) as ContinueToken;
        // The token comes back from the client: its strings go into the query (no NUL there).
        if (typeof token.ns !== "string" || typeof token.name !== "string" || typeof token.rv !== "string") throw new Error();
        if (token.ns.includes("\u0000") || token.name.includes("\u0000") || !/^\d{1,19}$/.test(token.rv)) throw new Error();
      } catch {
        throw new StoreError("Invalid", "continue: invalid continue token");
      }
    }
    // The query's LIMIT is an int (of limit + 1): a larger limit than any table holds means "all".
    const limit = options.limit && options.limit > 0 ? Math.min(options.limit, MAX_LIST_LIMIT) : undefined;
    const { sql, params } = listSql(kind, { ...options, limit: limit !== undefined ? limit + 1 : undefined }, token);
    // One statement, one snapshot: the rows are exactly the state at the list's resourceVersion,
    // so a watch started from it misses nothing and repeats nothing.
    const rows = await dbSpan("SELECT", kind.table, () =>
      rowsOf<ObjectRow & { list_rv: string }>(
        this.pool,
        `SELECT c.value::text AS list_rv, t.* FROM resource_version_counter c LEFT JOIN LATERAL (${sql}) t ON true WHERE c.id = 1`,
        params,
      ),
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

  /** The newest resourceVersion handed out. */
  async currentResourceVersion(): Promise<string> {
    const rows = await rowsOf<{ value: string }>(this.pool, `SELECT value::text AS value FROM resource_version_counter WHERE id = 1`);
    return rows[0]?.value ?? "0";
  }

  /** Fills in what the server owns on create: uid, creationTimestamp, generation. */
  prepareCreate(kind: KindInfo, input: NewObject, now = new Date()): StoredObject {
    const { metadata, ...rest } = input;
    const obj: StoredObject = {
      ...(rest as Omit<StoredObject, "metadata">),
      apiVersion: (rest.apiVersion as string) ?? "eiaas.io/v1alpha1",
      kind: kind.kind,
      metadata: {
        name: metadata.name,
        ...(kind.namespaced ? { namespace: metadata.namespace ?? "" } : {}),
        uid: randomUUID(),
        resourceVersion: "",
        generation: 1,
        ...metadataMaps(metadata.labels, metadata.annotations),
        creationTimestamp: formatTime(now),
        ...(metadata.ownerReferences?.length ? { ownerReferences: metadata.ownerReferences } : {}),
        ...(metadata.finalizers?.length ? { finalizers: metadata.finalizers } : {}),
        ...(metadata.managedFields?.length ? { managedFields: metadata.managedFields } : {}),
      },
    };
    if (kind.kind !== "Event") {
      obj.spec = input.spec ?? {};
      obj.status = input.status ?? {};
    }
    return obj;
  }

  /**
   * Creates one object; creates arriving while another is in flight are group-committed.
   * RequestEntityTooLarge over `maxObjectBytes`; Forbidden over a count quota (`options`).
   */
  async create(kind: KindInfo, input: NewObject, options: CreateOptions = {}): Promise<StoredObject> {
    const object = this.prepareCreate(kind, input);
    const logged = admitObjectSize(kind, object, this.maxObjectBytes);
    return this.creates.create(kind, object, { logged, ...(options.countQuota && isCounted(kind) ? { countQuota: options.countQuota } : {}) });
  }

  /**
   * What a write of `object` over `current` (absent for a create) would answer for its size
   * (RequestEntityTooLarge), without writing: for dryRun requests.
   */
  checkObjectSize(kind: KindInfo, object: StoredObject, current?: StoredObject): void {
    admitObjectSize(kind, object, this.maxObjectBytes, current);
  }

  /**
   * What a create in `namespace` would answer for its count quota (Forbidden), without writing:
   * for dryRun requests. Not race-free, as a dryRun needs not be.
   */
  async checkObjectCount(kind: KindInfo, namespace: string, name: string, quota: CountQuota): Promise<void> {
    if (!isCounted(kind)) return;
    try {
      await this.pool.query(`SELECT eiaas_admit_object_counts($1, ARRAY[$2::text], ARRAY[1::bigint], ARRAY[$3::bigint], 0)`, [kind.plural, namespace, quota.defaultLimit]);
    } catch (err) {
      if ((err as { code?: string }).code === QUOTA_EXCEEDED) throw quotaExceeded(kind, [name], err);
      throw err;
    }
  }

  /**
   * Replaces metadata (labels, annotations, owners, finalizers) and spec of `current`'s object with
   * `next`'s. Status is kept (it has its own subresource). Conflict when the stored version moved
   * past `options.expectedResourceVersion`. Removing the last finalizer of an object marked for
   * deletion deletes it.
   */
  async update(kind: KindInfo, current: StoredObject, next: NewObject, options: WriteOptions = {}): Promise<StoredObject> {
    const body = kind.kind === "Event" ? stripMeta(next) : undefined;
    const specChanged = kind.kind === "Event" ? stableJson(body) !== stableJson(stripMeta(current)) : stableJson(next.spec ?? {}) !== stableJson(current.spec ?? {});
    const m = current.metadata;
    // In the order a read of the row gives (codec.ts): the logged text is what watchers get.
    const metadata: ObjectMeta = {
      name: m.name,
      ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      generation: m.generation + (specChanged ? 1 : 0),
      ...metadataMaps(next.metadata.labels, next.metadata.annotations),
      creationTimestamp: m.creationTimestamp,
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    };
    if (next.metadata.ownerReferences?.length) metadata.ownerReferences = next.metadata.ownerReferences;
    else delete metadata.ownerReferences;
    if (next.metadata.finalizers?.length) metadata.finalizers = next.metadata.finalizers;
    else delete metadata.finalizers;
    // Field ownership is the API server's to compute; a writer that does not (a controller) keeps it.
    const managedFields = next.metadata.managedFields ?? m.managedFields;
    if (managedFields?.length) metadata.managedFields = managedFields;
    const obj: StoredObject =
      kind.kind === "Event"
        ? { apiVersion: current.apiVersion, kind: current.kind, metadata, ...body }
        : { apiVersion: current.apiVersion, kind: current.kind, metadata, spec: next.spec ?? {}, status: current.status ?? {} };
    const expected = options.expectedResourceVersion ?? current.metadata.resourceVersion;
    // The last finalizer of an object marked for deletion is gone: the delete it was waiting for
    // happens now, with the same cascade as a delete without finalizers.
    if (metadata.deletionTimestamp && !metadata.finalizers?.length) return this.deleteWithDependents(kind, obj, expected);
    const logged = admitObjectSize(kind, obj, this.maxObjectBytes, current);
    return this.writeOne({ type: "update", kind, object: obj, expectedResourceVersion: expected, logged });
  }

  /**
   * Writes `status` if the object still has the expected version (default: the one read). Writes
   * arriving while another is in flight share one statement (group commit, `StatusBatcher`); each
   * caller gets its own result: the written object, or Conflict/NotFound as a single write would.
   */
  async updateStatus(kind: KindInfo, current: StoredObject, status: unknown, options: WriteOptions = {}): Promise<StoredObject> {
    const expected = options.expectedResourceVersion ?? current.metadata.resourceVersion;
    const object = { ...current, status, metadata: { ...current.metadata, resourceVersion: expected } };
    return this.statuses.write(kind, object, admitObjectSize(kind, object, this.maxObjectBytes, current));
  }

  /**
   * Deletes `current`: with finalizers it is only marked (deletionTimestamp set, MODIFIED); without,
   * it is removed together with the objects that name it as owner (cascade, one transaction).
   */
  async delete(kind: KindInfo, current: StoredObject, options: WriteOptions = {}): Promise<{ object: StoredObject; deleted: boolean }> {
    const expected = options.expectedResourceVersion ?? current.metadata.resourceVersion;
    if (current.metadata.finalizers?.length) {
      if (current.metadata.deletionTimestamp) return { object: current, deleted: false };
      const marked: StoredObject = { ...current, metadata: { ...current.metadata, deletionTimestamp: formatTime(new Date()) } };
      const object = await this.writeOne({ type: "update", kind, object: marked, expectedResourceVersion: expected });
      return { object, deleted: false };
    }
    return { object: await this.deleteWithDependents(kind, current, expected), deleted: true };
  }

  /**
   * Removes `object` (if still at `expected`) and every object of its dependent kinds that names
   * it as owner, in one transaction. The dependents are read before it: one a writer adds between
   * that read and the transaction comes with a write of the owner (the binder writes a workload's
   * plan with its tasks), so the conditional delete of the owner misses (Conflict) and the caller
   * reads again. (A dependent made some other way in that moment, by hand, is the scheduler's
   * garbage collector's.)
   */
  private async deleteWithDependents(kind: KindInfo, object: StoredObject, expected: string): Promise<StoredObject> {
    const ops: WriteOp[] = [{ type: "delete", kind, object, expectedResourceVersion: expected }];
    // A dependent another writer deleted meanwhile (a controller stopping superseded tasks) is
    // already where this delete would put it.
    for (const { kind: dep, object: d } of await this.dependentsOf(kind, object)) ops.push({ type: "delete", kind: dep, object: d, missingOk: true });
    if (ops.length === 1) return this.writeOne(ops[0]!);
    const [deleted] = await this.applyBatch(ops);
    return deleted!;
  }

  /**
   * The objects of `kind`'s dependent kinds (`dependentKinds`) that name `owner` as an owner, as
   * they are now: what its delete cascades to, orphans or waits for.
   */
  async dependentsOf(kind: KindInfo, owner: StoredObject): Promise<Array<{ kind: KindInfo; object: StoredObject }>> {
    const out: Array<{ kind: KindInfo; object: StoredObject }> = [];
    for (const dep of dependentKinds(kind)) {
      // Tasks carry their owner's uid (the controller's, else the first's) in an indexed column:
      // no scan of every task per workload deleted. Other kinds match their owner references.
      const rows =
        dep.kind === "Task"
          ? await rowsOf<ObjectRow>(this.pool, `SELECT * FROM tasks WHERE owner_uid = $1::uuid`, [owner.metadata.uid])
          : await rowsOf<ObjectRow>(this.pool, `SELECT * FROM "${dep.table}" WHERE owner_references @> $1::jsonb`, [JSON.stringify([{ uid: owner.metadata.uid }])]);
      for (const row of rows) out.push({ kind: dep, object: rowToObject(dep, row) });
    }
    return out;
  }

  /**
   * The objects of `kind` marked for deletion that still hold one of `finalizers` (one statement):
   * what a controller that lifts those finalizers has left to do.
   */
  async markedWith(kind: KindInfo, finalizers: readonly string[]): Promise<StoredObject[]> {
    const rows = await rowsOf<ObjectRow>(this.pool, `SELECT * FROM "${kind.table}" WHERE deletion_timestamp IS NOT NULL AND finalizers ?| $1::text[]`, [finalizers]);
    return rows.map((r) => rowToObject(kind, r));
  }

  /** One op, one statement committed alone (the hot path of the API): a batch of one. */
  async writeOne(op: WriteOp): Promise<StoredObject> {
    const { sql, params } = batchOpSql(op, 1, 1);
    let rows: Array<ObjectRow & { new_resource_version: string }>;
    try {
      // The statement's text depends only on the kind and the op: prepared once per connection.
      rows = await dbSpan(SQL_VERB[op.type], op.kind.table, async () => (await this.pool.query<ObjectRow & { new_resource_version: string }>(prepared(sql, params))).rows);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === WRITE_MISSED) throw await this.explainMiss(op);
      if (code === QUOTA_EXCEEDED) throw quotaExceeded(op.kind, [op.object.metadata.name], err);
      throw err;
    }
    const row = rows[0];
    if (!row || row.uid === null) throw await this.explainMiss(op);
    const rv = String(row.new_resource_version);
    return op.type === "delete" ? watchObject(op, rv) : rowToObject(op.kind, { ...row, resource_version: rv });
  }

  /**
   * Several ops in one transaction: the counter row is locked first (so versions follow commit
   * order), each op gets the next version and logs its own watch event, one NOTIFY. Any
   * conditional op that misses rolls the whole batch back.
   */
  async applyBatch(ops: WriteOp[]): Promise<StoredObject[]> {
    if (ops.length === 0) return [];
    return dbSpan("BATCH", [...new Set(ops.map((o) => o.kind.table))].join(","), () => this.applyBatchTx(ops), { attributes: { "db.operation.batch.size": ops.length } });
  }

  /**
   * The batch's statements and its COMMIT are sent back to back (pipelined on one connection),
   * not one per round trip: the counter row — every writer's lock — is held from the first
   * statement to COMMIT, and a round trip through a busy event loop would hold it for as long as
   * that loop is busy. So each statement stands alone (numbers its rows from a transaction-local
   * setting, logs its own events) and a miss fails in Postgres (SQLSTATE EI409), aborting the
   * transaction; the COMMIT then rolls back and the miss is explained from a fresh read. A batch
   * that is one statement (a run of creates of one kind: the API's grouped creates) takes its own
   * versions and notifies in that statement, and commits alone — one round trip, no transaction.
   */
  private async applyBatchTx(ops: WriteOp[]): Promise<StoredObject[]> {
    const runs: number[][] = [];
    for (let i = 0; i < ops.length; ) {
      const op = ops[i]!;
      // A run of creates of one kind goes out as one statement (events for a cycle's workloads,
      // seeded fleets, the API's grouped creates).
      let end = i + 1;
      if (op.type === "create") while (end < ops.length && end - i < MULTI_INSERT_MAX && ops[end]!.type === "create" && ops[end]!.kind === op.kind) end++;
      runs.push(Array.from({ length: end - i }, (_, k) => i + k));
      i = end;
    }
    // One statement (the API's grouped creates, most often) commits alone: no transaction.
    const standalone = runs.length === 1 ? ops.length : undefined;
    const statements = runs.map((idx) => ({
      ...(idx.length > 1
        ? batchCreateRunSql(ops[idx[0]!]!.kind, idx.map((k) => ops[k]!), idx.map((k) => k + 1), standalone)
        : batchOpSql(ops[idx[0]!]!, idx[0]! + 1, standalone)),
      ops: idx,
    }));
    let settled: PromiseSettledResult<pg.QueryResult<any>>[];
    let offset: number;
    if (standalone !== undefined) {
      settled = await Promise.allSettled([this.pool.query<ObjectRow>(batchQuery(statements[0]!))]);
      offset = 0;
    } else {
      const client = await this.pool.connect();
      settled = await Promise.allSettled(
        sendTogether(client, () => [
          client.query("BEGIN"),
          client.query<{ base: string }>(RESERVE_VERSIONS_SQL, [ops.length]),
          ...statements.map((s) => client.query<ObjectRow>(batchQuery(s))),
          client.query(NOTIFY_RESERVED_SQL, [ops.length]),
          client.query("COMMIT"),
        ]),
      );
      // COMMIT of an aborted transaction rolls back; if even that got no answer, the connection
      // is in an unknown state and is dropped. Released before a miss is explained (a fresh read).
      client.release(settled[settled.length - 1]!.status !== "fulfilled");
      offset = 2;
    }
    const failedAt = settled.findIndex((s) => s.status === "rejected");
    if (failedAt >= 0) {
      const err = (settled[failedAt] as PromiseRejectedResult).reason;
      const statement = statements[failedAt - offset];
      if (statement) {
        const op = ops[statement.ops[0]!]!;
        if (isUniqueViolation(err) && op.type === "create") {
          throw new StoreError(
            "AlreadyExists",
            statement.ops.length > 1 ? `${op.kind.plural}: one of ${statement.ops.length} objects created together already exists` : `${op.kind.plural} "${op.object.metadata.name}" already exists`,
          );
        }
        if ((err as { code?: string }).code === WRITE_MISSED) throw await this.explainMiss(op);
        if ((err as { code?: string }).code === QUOTA_EXCEEDED) throw quotaExceeded(op.kind, statement.ops.map((k) => ops[k]!.object.metadata.name), err);
      }
      throw err;
    }
    const values = settled.map((s) => (s as PromiseFulfilledResult<pg.QueryResult<any>>).value);
    const results: StoredObject[] = [];
    statements.forEach((s, n) => {
      const byUid = new Map((values[n + offset]!.rows as ObjectRow[]).filter((r) => r.uid !== null).map((r) => [String(r.uid), r]));
      for (const k of s.ops) {
        const op = ops[k]!;
        const row = byUid.get(op.object.metadata.uid);
        if (!row) continue; // a missingOk delete that found nothing; its version goes unused
        results.push(op.type === "delete" ? watchObject(op, String((row as ObjectRow & { new_resource_version: string }).new_resource_version)) : rowToObject(op.kind, row));
      }
    });
    return results;
  }

  /** After a conditional write matched no row: was it deleted (NotFound) or changed (Conflict)? */
  private async explainMiss(op: WriteOp): Promise<StoreError> {
    const rows = await rowsOf(this.pool, `SELECT resource_version FROM "${op.kind.table}" WHERE uid = $1::uuid`, [op.object.metadata.uid]);
    const name = op.object.metadata.name;
    if (rows.length === 0) return new StoreError("NotFound", `${op.kind.plural} "${name}" not found`, { kind: op.kind.plural, name });
    return new StoreError(
      "Conflict",
      `Operation cannot be fulfilled on ${op.kind.plural}.eiaas.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    );
  }
}

function stripMeta(o: NewObject | StoredObject): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata: _m, spec: _s, status: _st, ...body } = o as Record<string, unknown>;
  return body;
}
