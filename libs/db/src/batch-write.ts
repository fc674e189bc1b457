import type pg from "pg";
import { rowToObject, type ObjectRow, type StoredObject } from "./codec.js";
import { StoreError, isUniqueViolation } from "./errors.js";
import { quotaExceeded } from "./object-limits.js";
import { sendTogether } from "./pipeline.js";
import { prepared } from "./prepared.js";
import { explainMiss } from "./store-reads.js";
import { batchCreateRunSql, batchOpSql, QUOTA_EXCEEDED, watchObject, WRITE_MISSED, type WriteOp } from "./write-sql.js";
import { NOTIFY_RESERVED_SQL, RESERVE_VERSIONS_SQL } from "./write-template.js";

/** Most rows in one multi-row INSERT (≈ 15 parameters each, under Postgres' 65,535). */
const MULTI_INSERT_MAX = 1000;

/** One statement of a batch and the indexes of the ops it writes. */
type BatchStatement = { sql: string; params: unknown[]; ops: number[] };

/**
 * A batch statement, prepared when its shape is one of few: one op, or a run of creates short
 * enough (the API's grouped creates, a cycle's events) that its VALUES list has a handful of
 * lengths. Longer runs (seeded fleets) are parsed each time.
 */
function batchQuery(s: BatchStatement): pg.QueryConfig {
  return s.ops.length <= 16 ? prepared(s.sql, s.params) : { text: s.sql, values: s.params };
}

/**
 * The statements of a batch: a run of creates of one kind is one statement (events for a cycle's
 * workloads, seeded fleets, the API's grouped creates), every other op its own. `standalone`: the
 * batch is one statement, which then takes its own versions and notifies.
 */
function batchStatements(ops: WriteOp[]): { statements: BatchStatement[]; standalone: number | undefined } {
  const runs: number[][] = [];
  for (let i = 0; i < ops.length;) {
    const op = ops[i]!;
    let end = i + 1;
    if (op.type === "create") while (end < ops.length && end - i < MULTI_INSERT_MAX && ops[end]!.type === "create" && ops[end]!.kind === op.kind) end++;
    runs.push(Array.from({ length: end - i }, (_, k) => i + k));
    i = end;
  }
  const standalone = runs.length === 1 ? ops.length : undefined;
  const statements = runs.map((idx) => ({
    ...(idx.length > 1
      ? batchCreateRunSql(
          ops[idx[0]!]!.kind,
          idx.map((k) => ops[k]!),
          idx.map((k) => k + 1),
          standalone,
        )
      : batchOpSql(ops[idx[0]!]!, idx[0]! + 1, standalone)),
    ops: idx,
  }));
  return { statements, standalone };
}

/**
 * Sends the statements: alone when the batch is one, else pipelined in one transaction with the
 * version reservation before them and the notification and COMMIT after. `offset`: the index of
 * the first batch statement among the answers.
 */
async function sendBatch(pool: pg.Pool, opCount: number, statements: BatchStatement[], standalone: boolean): Promise<{ settled: PromiseSettledResult<pg.QueryResult<ObjectRow>>[]; offset: number }> {
  if (standalone) return { settled: await Promise.allSettled([pool.query<ObjectRow>(batchQuery(statements[0]!))]), offset: 0 };
  const client = await pool.connect();
  const settled = await Promise.allSettled(
    sendTogether(client, () => [
      client.query<ObjectRow>("BEGIN"),
      client.query<ObjectRow>(RESERVE_VERSIONS_SQL, [opCount]),
      ...statements.map((s) => client.query<ObjectRow>(batchQuery(s))),
      client.query<ObjectRow>(NOTIFY_RESERVED_SQL, [opCount]),
      client.query<ObjectRow>("COMMIT"),
    ]),
  );
  // COMMIT of an aborted transaction rolls back; if even that got no answer, the connection
  // is in an unknown state and is dropped. Released before a miss is explained (a fresh read).
  client.release(settled[settled.length - 1]!.status !== "fulfilled");
  return { settled, offset: 2 };
}

/** What a failed batch statement means for its caller: AlreadyExists, NotFound/Conflict, Forbidden, or the error itself. */
async function batchError(pool: pg.Pool, ops: WriteOp[], statement: BatchStatement | undefined, err: unknown): Promise<unknown> {
  if (!statement) return err;
  const op = ops[statement.ops[0]!]!;
  if (isUniqueViolation(err) && op.type === "create") {
    return new StoreError(
      "AlreadyExists",
      statement.ops.length > 1 ? `${op.kind.plural}: one of ${statement.ops.length} objects created together already exists` : `${op.kind.plural} "${op.object.metadata.name}" already exists`,
    );
  }
  const code = (err as { code?: string }).code;
  if (code === WRITE_MISSED) return explainMiss(pool, op);
  if (code === QUOTA_EXCEEDED)
    return quotaExceeded(
      op.kind,
      statement.ops.map((k) => ops[k]!.object.metadata.name),
      err,
    );
  return err;
}

/**
 * Several ops in one transaction, their statements and COMMIT sent back to back (pipelined on one
 * connection), not one per round trip: the counter row — every writer's lock — is held from the
 * first statement to COMMIT, and a round trip through a busy event loop would hold it for as long
 * as that loop is busy. So each statement stands alone (numbers its rows from a transaction-local
 * setting, logs its own events) and a miss fails in Postgres (SQLSTATE EI409), aborting the
 * transaction; the COMMIT then rolls back and the miss is explained from a fresh read. A batch that
 * is one statement (a run of creates of one kind: the API's grouped creates) takes its own
 * versions and notifies in that statement, and commits alone — one round trip, no transaction.
 */
export async function applyBatchPipelined(pool: pg.Pool, ops: WriteOp[]): Promise<StoredObject[]> {
  const { statements, standalone } = batchStatements(ops);
  const { settled, offset } = await sendBatch(pool, ops.length, statements, standalone !== undefined);
  const failedAt = settled.findIndex((s) => s.status === "rejected");
  if (failedAt >= 0) throw await batchError(pool, ops, statements[failedAt - offset], (settled[failedAt] as PromiseRejectedResult).reason);
  const results: StoredObject[] = [];
  statements.forEach((s, n) => {
    const answer = settled[n + offset] as PromiseFulfilledResult<pg.QueryResult<ObjectRow & { new_resource_version?: string }>>;
    const byUid = new Map(answer.value.rows.filter((r) => r.uid !== null).map((r) => [String(r.uid), r]));
    for (const k of s.ops) {
      const op = ops[k]!;
      const row = byUid.get(op.object.metadata.uid);
      if (!row) continue; // a missingOk delete that found nothing; its version goes unused
      results.push(op.type === "delete" ? watchObject(op, String(row.new_resource_version)) : rowToObject(op.kind, row));
    }
  });
  return results;
}
