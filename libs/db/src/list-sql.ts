import { StoreError } from "./errors.js";
import type { FieldRequirement, KindInfo, LabelRequirement } from "@eiaas/api";
import { fieldExpression } from "./codec.js";
import { Params } from "./write-sql.js";

export interface ContinueToken {
  ns: string;
  name: string;
  rv: string;
}

/** SQL for a list: namespace, label and field selectors, keyset paging on (namespace, name). */
export function listSql(
  kind: KindInfo,
  options: { namespace?: string; labels?: LabelRequirement[]; fields?: FieldRequirement[]; limit?: number },
  after?: ContinueToken,
): { sql: string; params: unknown[] } {
  const p = new Params();
  const where: string[] = [];
  if (kind.namespaced && options.namespace !== undefined) where.push(`namespace = ${p.add(options.namespace, "text")}`);
  for (const r of options.labels ?? []) where.push(labelCondition(r, p));
  for (const f of options.fields ?? []) {
    const expr = fieldExpression(kind, f.field);
    if (!expr) throw new StoreError("Invalid", `fieldSelector: field label not supported: ${f.field}`);
    where.push(f.negate ? `${expr} IS DISTINCT FROM ${p.add(f.value, "text")}` : `${expr} = ${p.add(f.value, "text")}`);
  }
  if (after) where.push(`(namespace, name) > (${p.add(after.ns, "text")}, ${p.add(after.name, "text")})`);
  const sql =
    `SELECT * FROM "${kind.table}"` +
    (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
    ` ORDER BY namespace, name` +
    (options.limit !== undefined ? ` LIMIT ${p.add(options.limit, "int")}` : "");
  return { sql, params: p.values };
}

function labelCondition(r: LabelRequirement, p: Params): string {
  if (r.operator === "Equals") {
    // Containment uses the GIN index on labels.
    return `labels @> ${p.add(JSON.stringify({ [r.key]: r.values[0] ?? "" }), "jsonb")}`;
  }
  const key = p.add(r.key, "text");
  switch (r.operator) {
    case "In":
      return r.values.length ? `(labels ->> ${key}) IN (${inList(r.values, p)})` : "FALSE";
    case "NotEquals":
    case "NotIn":
      return r.values.length ? `((labels ->> ${key}) IS NULL OR (labels ->> ${key}) NOT IN (${inList(r.values, p)}))` : "TRUE";
    case "Exists":
      return `(labels ->> ${key}) IS NOT NULL`;
    case "DoesNotExist":
      return `(labels ->> ${key}) IS NULL`;
  }
}

/** One typed parameter per value: Prisma's raw queries do not carry array parameter types. */
function inList(values: string[], p: Params): string {
  return values.map((v) => p.add(v, "text")).join(", ");
}
