import { ApiError } from "./errors.js";

// What no JSON from a client may hold, whatever the route: checked once, on the parsed body, so
// that no later code (patches, schemas, Postgres, JSON.stringify) meets it.

/** The key no object may hold: assigning it changes an object's prototype instead of adding data. */
export const FORBIDDEN_KEY = "__proto__";

/**
 * Deepest nesting of objects and arrays in a body. Far beyond any schema (objects nest about ten
 * deep); it keeps every recursive step after parsing (merge patch, validation, structuredClone,
 * JSON.stringify) well inside the stack, where 10,000 levels overflow it.
 */
export const MAX_JSON_DEPTH = 100;

/** The 400 that refuses `__proto__` at `field`. */
export function forbiddenKey(field: string): ApiError {
  return new ApiError("BadRequest", `${field}: "${FORBIDDEN_KEY}" is not allowed as a key`, {
    causes: [{ field, message: `"${FORBIDDEN_KEY}" is not allowed as a key`, reason: "FieldValueForbidden" }],
  });
}

function refused(field: string, message: string): ApiError {
  return new ApiError("BadRequest", `${field || "the request body"}: ${message}`, { causes: [{ field, message, reason: "FieldValueInvalid" }] });
}

/** `metadata.labels.app`, `spec.layers[0].name` from the keys walked so far. */
function fieldPath(keys: ReadonlyArray<string | number>): string {
  let out = "";
  for (const k of keys) out += typeof k === "number" ? `[${k}]` : out ? `.${k}` : k;
  return out;
}

/** A high surrogate without its low one, or a low one without its high one (UTF-16 code units). */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkString(s: string, keys: ReadonlyArray<string | number>): void {
  // Postgres stores neither in JSON (jsonb refuses \u0000 and unpaired surrogates).
  if (s.includes("\u0000")) throw refused(fieldPath(keys), "must not contain the character U+0000 (NUL)");
  if (UNPAIRED_SURROGATE.test(s)) throw refused(fieldPath(keys), "must be valid Unicode (it holds an unpaired surrogate)");
}

/**
 * Refuses (400, with the field's path) a parsed body that nests deeper than MAX_JSON_DEPTH, holds
 * a `__proto__` key, or a string or key with NUL or an unpaired surrogate. `escaped`: whether the
 * JSON text held a `\u` escape — the only way JSON can carry NUL or an unpaired surrogate (raw
 * control characters are invalid JSON and bytes that are not UTF-8 decode to U+FFFD), so without
 * one the strings need no look.
 */
export function checkJsonValue(value: unknown, escaped: boolean): void {
  const keys: Array<string | number> = [];
  const visit = (v: unknown, depth: number): void => {
    if (typeof v === "string") {
      if (escaped) checkString(v, keys);
      return;
    }
    if (typeof v !== "object" || v === null) return;
    if (depth > MAX_JSON_DEPTH) throw refused(fieldPath(keys), `nests deeper than ${MAX_JSON_DEPTH} levels`);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        keys.push(i);
        visit(v[i], depth + 1);
        keys.pop();
      }
      return;
    }
    for (const k of Object.keys(v)) {
      keys.push(k);
      if (k === FORBIDDEN_KEY) throw forbiddenKey(fieldPath(keys));
      if (escaped) checkString(k, keys);
      visit((v as Record<string, unknown>)[k], depth + 1);
      keys.pop();
    }
  };
  visit(value, 1);
}

/** Whether `text` holds more than `max` opening brackets (it can nest no deeper than that). */
function bracketsPast(text: string, max: number): boolean {
  let n = 0;
  for (const open of ["{", "["]) {
    for (let i = text.indexOf(open); i !== -1; i = text.indexOf(open, i + 1)) if (++n > max) return true;
  }
  return false;
}

/**
 * `checkJsonValue` for a body parsed from `text`, skipped when the text shows it has nothing to
 * find — no `\u` escape, no `__proto__`, too few brackets to nest too deep — as most bodies (an
 * agent's status report, the hottest write) do: the walk costs about half a JSON.parse.
 */
export function checkJsonText(text: string, value: unknown): void {
  const escaped = text.includes("\\u");
  if (!escaped && !text.includes(FORBIDDEN_KEY) && !bracketsPast(text, MAX_JSON_DEPTH)) return;
  checkJsonValue(value, escaped);
}
