import { fieldPath } from "@eiaas/db";
import { ApiError } from "./errors.js";
import { matchesRequirements, parseFieldSelector, parseLabelSelector, SelectorParseError, type FieldRequirement, type KindInfo, type LabelRequirement } from "@eiaas/api";

export interface Selectors {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

/**
 * Parses `labelSelector` and `fieldSelector` query parameters (400 when malformed). With `kind`,
 * fields are named as the object has them (an Event's `source` is its `source.component`).
 */
export function parseSelectors(query: Record<string, unknown>, kind?: KindInfo): Selectors {
  try {
    const l = query.labelSelector;
    const f = query.fieldSelector;
    // Given twice, one would be ignored: a list (or a deletecollection) wider than asked.
    if (Array.isArray(l) || Array.isArray(f)) throw new ApiError("BadRequest", `${Array.isArray(l) ? "labelSelector" : "fieldSelector"}: given more than once; combine the requirements with commas`);
    const fields = typeof f === "string" ? parseFieldSelector(f) : [];
    return {
      labels: typeof l === "string" ? parseLabelSelector(l) : [],
      fields: kind ? fields.map((r) => ({ ...r, field: fieldPath(kind, r.field) })) : fields,
    };
  } catch (err) {
    if (err instanceof SelectorParseError) throw new ApiError("BadRequest", err.message);
    throw err;
  }
}

function fieldValue(obj: any, field: string): string | undefined {
  let cur = obj;
  for (const part of field.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = cur[part];
  }
  return cur === undefined || cur === null ? undefined : String(cur);
}

/** In-memory selector match (for watch events); lists use the SQL form. */
export function matchesSelectors(obj: any, sel: Selectors): boolean {
  if (!matchesRequirements(sel.labels, obj.metadata?.labels ?? {})) return false;
  for (const f of sel.fields) {
    const v = fieldValue(obj, f.field) ?? "";
    if (f.negate ? v === f.value : v !== f.value) return false;
  }
  return true;
}
