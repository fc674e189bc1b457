import type { KindInfo } from "@eiaas/api";
import { EXTRA_COLUMN_TYPES, eventBodyOf, extraColumns, type StoredObject } from "./codec.js";
import { WriteTemplate } from "./write-template.js";

/**
 * A create checked against its tenant's object-count quota (`spec.quota."count/<resource>"`) in
 * the statement that inserts it — race-free across concurrent creates and API servers.
 */
export interface CountQuota {
  /** The cap when the tenant's quota sets none; null for none. */
  defaultLimit: number | null;
}

/** SQLSTATE of a create refused by `eiaas_admit_object_counts` (migration `object_counts`). */
export const QUOTA_EXCEEDED = "EI403";

/** An object's JSON text split where its resourceVersion goes ({@link splitAtVersion}). */
export interface LoggedText {
  head: string;
  tail: string;
}

export type WriteOp =
  /** `logged`: the object's text, when the caller already made it; `countQuota`: checked in the statement. */
  | { type: "create"; kind: KindInfo; object: StoredObject; logged?: LoggedText; countQuota?: CountQuota }
  /** Replaces the row identified by `object.metadata.uid`; conditional on `expectedResourceVersion`. */
  | { type: "update"; kind: KindInfo; object: StoredObject; expectedResourceVersion?: string; logged?: LoggedText }
  /** `missingOk`: a row already gone is skipped instead of failing the batch (cascades racing a controller). */
  | { type: "delete"; kind: KindInfo; object: StoredObject; expectedResourceVersion?: string; missingOk?: boolean };

/** Builds parameterised SQL; `$n` placeholders in call order. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return `$${this.values.length}${cast ? `::${cast}` : ""}`;
  }
}

function columnsOf(op: WriteOp): Array<[string, unknown, string]> {
  const o = op.object;
  const m = o.metadata;
  const body = op.kind.kind === "Event" ? eventBodyOf(o) : (o.spec ?? {});
  const cols: Array<[string, unknown, string]> = [
    ["uid", m.uid, "uuid"],
    ["namespace", m.namespace ?? "", "text"],
    ["name", m.name, "text"],
    ["generation", m.generation, "int"],
    ["labels", JSON.stringify(m.labels ?? {}), "jsonb"],
    ["annotations", JSON.stringify(m.annotations ?? {}), "jsonb"],
    ["owner_references", JSON.stringify(m.ownerReferences ?? []), "jsonb"],
    ["finalizers", JSON.stringify(m.finalizers ?? []), "jsonb"],
    ["managed_fields", JSON.stringify(m.managedFields ?? []), "jsonb"],
    ["creation_timestamp", m.creationTimestamp, "timestamptz"],
    ["deletion_timestamp", m.deletionTimestamp ?? null, "timestamptz"],
    ["spec", JSON.stringify(body), "jsonb"],
    ["status", JSON.stringify(o.status ?? {}), "jsonb"],
  ];
  for (const [col, value] of Object.entries(extraColumns(op.kind.kind, o))) {
    cols.push([col, value, EXTRA_COLUMN_TYPES[col] ?? "text"]);
  }
  return cols;
}

/**
 * The columns a write returns (what `rowToObject` reads), named rather than `*`: a prepared
 * statement's result shape must not change when a migration adds a column while it is cached.
 */
const RETURNED = "uid, namespace, name, resource_version, generation, labels, annotations, owner_references, finalizers, managed_fields, creation_timestamp, deletion_timestamp, spec, status";

/** The mutation statement of one op with `rvSql` as its new resourceVersion; RETURNING the row. */
export function mutationSql(op: WriteOp, p: Params, rvSql: () => string): string {
  const table = `"${op.kind.table}"`;
  if (op.type === "create") {
    const cols = columnsOf(op);
    const names = ["resource_version", ...cols.map(([c]) => `"${c}"`)].join(", ");
    const values = [rvSql(), ...cols.map(([, v, cast]) => p.add(v, cast))].join(", ");
    return `INSERT INTO ${table} (${names}) SELECT ${values} RETURNING ${RETURNED}`;
  }
  const uid = p.add(op.object.metadata.uid, "uuid");
  const cond = op.expectedResourceVersion !== undefined ? ` AND resource_version = ${p.add(op.expectedResourceVersion, "bigint")}` : "";
  if (op.type === "update") {
    const sets = columnsOf(op)
      .filter(([c]) => c !== "uid" && c !== "namespace" && c !== "name" && c !== "creation_timestamp")
      .map(([c, v, cast]) => `"${c}" = ${p.add(v, cast)}`);
    return `UPDATE ${table} SET resource_version = ${rvSql()}, ${sets.join(", ")} WHERE uid = ${uid}${cond} RETURNING ${RETURNED}`;
  }
  return `DELETE FROM ${table} WHERE uid = ${uid}${cond} RETURNING ${RETURNED}`;
}

export function watchType(op: WriteOp): "ADDED" | "MODIFIED" | "DELETED" {
  return op.type === "create" ? "ADDED" : op.type === "update" ? "MODIFIED" : "DELETED";
}

const VERSION_AT = '"metadata":{"resourceVersion":"';

/**
 * The object's JSON text split where the value of its resourceVersion goes: the statement that
 * assigns the version logs `head || version || tail` (cast to json, which only checks it), so
 * Postgres neither parses the object into jsonb nor rebuilds it to set one field. The version is
 * the first key of metadata, which follows apiVersion and kind: the first match is it (string
 * values are escaped and cannot contain the pattern).
 */
export function splitAtVersion(object: StoredObject): LoggedText {
  const { apiVersion, kind, metadata, ...rest } = object;
  // resourceVersion first: an assigned key keeps the place it was first given.
  const meta: Record<string, unknown> = { resourceVersion: "" };
  Object.assign(meta, metadata, { resourceVersion: "" });
  const text = JSON.stringify({ apiVersion, kind, metadata: meta, ...rest });
  const at = text.indexOf(VERSION_AT) + VERSION_AT.length;
  return { head: text.slice(0, at), tail: text.slice(at) };
}

/** The op's object as {@link splitAtVersion} gives it (made once: the caller may have it already). */
function loggedText(op: WriteOp): LoggedText {
  return (op.type !== "delete" ? op.logged : undefined) ?? splitAtVersion(op.object);
}

/**
 * The count-quota check of a statement creating `ops` (those carrying a `countQuota`), or none when
 * none does: a call of `eiaas_admit_object_counts` given the statement's version base, so that
 * the statement takes the counter row before the check runs (see the migration `object_counts`).
 */
function countCheckSql(kind: KindInfo, ops: readonly WriteOp[], p: Params, base: string): string[] {
  const quoted = ops.filter((op): op is Extract<WriteOp, { type: "create" }> => op.type === "create" && op.countQuota !== undefined);
  if (quoted.length === 0) return [];
  const namespaces = p.add(
    quoted.map((op) => op.object.metadata.namespace ?? ""),
    "text[]",
  );
  const requested = p.add(
    quoted.map(() => 1),
    "bigint[]",
  );
  const defaults = p.add(
    quoted.map((op) => op.countQuota!.defaultLimit),
    "bigint[]",
  );
  return [`eiaas_admit_object_counts(${p.add(kind.plural, "text")}, ${namespaces}, ${requested}, ${defaults}, ${base}) AS admitted`];
}

/** The object a watcher sees for this op, carrying its new resourceVersion. */
export function watchObject(op: WriteOp, rv: string): StoredObject {
  return { ...op.object, metadata: { ...op.object.metadata, resourceVersion: rv } };
}

/** SQLSTATE of a pipelined write that matched another number of rows than it had to. */
export const WRITE_MISSED = "EI409";

/**
 * How a batch statement numbers its rows: after RESERVE_VERSIONS_SQL in a pipelined transaction
 * (`standalone` absent), or — a batch that is this one statement — taking its own block of
 * `standalone` versions and notifying, committed alone (no transaction around it).
 */
function templateOf(p: Params, standalone: number | undefined): WriteTemplate {
  return new WriteTemplate(standalone === undefined ? { reserved: true } : { take: p.add(standalone, "bigint") });
}

/**
 * One op of a batch as one statement, with the batch's k-th version: mutate, append to the watch
 * log, and fail in Postgres (SQLSTATE EI409, see the write_expectations migration) when the row
 * is not there at the expected version — in a pipelined transaction the COMMIT is already on its
 * way, so a miss must abort the transaction itself. A `missingOk` delete that misses returns no
 * row and logs nothing. RETURNING the row (as before the delete, for deletes) and its new version.
 */
export function batchOpSql(op: WriteOp, k: number, standalone?: number): { sql: string; params: unknown[] } {
  const p = new Params();
  const t = templateOf(p, standalone);
  const version = t.version(k);
  const mutation = mutationSql(op, p, () => version);
  const logged = loggedText(op);
  const head = p.add(logged.head, "text");
  const tail = p.add(logged.tail, "text");
  const kind = p.add(op.kind.kind, "text");
  const type = p.add(watchType(op), "text");
  const check = op.type === "delete" && op.missingOk ? "true" : "eiaas_expect_rows((SELECT count(*) FROM w), 1)";
  const admit = countCheckSql(op.kind, [op], p, version);
  const sql = t.sql({
    steps: [`w AS (${mutation})`],
    logged: [{ from: "w", version, kind, namespace: "w.namespace", name: "w.name", type, head, tail }],
    checks: [`${check} AS ok`, ...admit],
    select: `w.*, ${version}::text AS new_resource_version`,
    rows: "w",
  });
  return { sql, params: p.values };
}

/**
 * A run of creates of one kind as one statement (multi-row INSERT), the i-th with the batch's
 * version `ks[i]`, logged to the watch log. RETURNING the rows (match them by uid).
 */
export function batchCreateRunSql(kind: KindInfo, run: readonly WriteOp[], ks: readonly number[], standalone?: number): { sql: string; params: unknown[] } {
  const p = new Params();
  const t = templateOf(p, standalone);
  const table = `"${kind.table}"`;
  const first = columnsOf(run[0]!);
  const names = ["resource_version", ...first.map(([c]) => `"${c}"`)].join(", ");
  const rows = run.map((op, i) => {
    const cols = columnsOf(op);
    if (cols.length !== first.length) throw new Error(`batchCreateRunSql: ${op.object.metadata.name} has other columns than ${run[0]!.object.metadata.name}`);
    return `(${[t.version(ks[i]!), ...cols.map(([, v, cast]) => p.add(v, cast))].join(", ")})`;
  });
  const logged = run.map((op) => {
    const { head, tail } = loggedText(op);
    return `(${p.add(op.object.metadata.uid, "uuid")}, ${p.add(head, "text")}, ${p.add(tail, "text")})`;
  });
  const kindName = p.add(kind.kind, "text");
  const admit = countCheckSql(kind, run, p, t.version(ks[0]!));
  const sql = t.sql({
    steps: [`w AS (INSERT INTO ${table} (${names}) VALUES ${rows.join(", ")} RETURNING ${RETURNED})`],
    logged: [
      {
        from: `w JOIN (VALUES ${logged.join(", ")}) AS o(uid, head, tail) ON o.uid = w.uid`,
        version: "w.resource_version",
        kind: kindName,
        namespace: "w.namespace",
        name: "w.name",
        type: "'ADDED'",
        head: "o.head",
        tail: "o.tail",
      },
    ],
    checks: [`eiaas_expect_rows((SELECT count(*) FROM w), ${run.length}) AS ok`, ...admit],
    select: "w.*",
    rows: "w",
  });
  return { sql, params: p.values };
}
