import { ApiError } from "./errors.js";
import {
  matchesRequirements,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
  type FieldRequirement,
  type LabelRequirement,
} from "@eiaas/api";

export interface Selectors {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

/** Parses `labelSelector` and `fieldSelector` query parameters (400 when malformed). */
export function parseSelectors(query: Record<string, unknown>): Selectors {
  try {
    const l = query.labelSelector;
    const f = query.fieldSelector;
    return {
      labels: typeof l === "string" ? parseLabelSelector(l) : [],
      fields: typeof f === "string" ? parseFieldSelector(f) : [],
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
