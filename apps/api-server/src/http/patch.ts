import { isDeepStrictEqual } from "node:util";
import { ApiError } from "./errors.js";
import { FORBIDDEN_KEY, forbiddenKey } from "./json-guard.js";

// Patches come from tenants and agents: every key and path segment is hostile. Two rules keep a
// patch inside the object it patches. (1) Paths walk own properties only: `constructor`,
// `prototype`, `toString` and friends are plain data keys that an object either holds or not,
// never the inherited members. (2) `__proto__` is refused wherever it appears: assigning it is the
// one plain-object write that changes a prototype instead of adding data, and no schema field is
// named so (request bodies are refused with it too: see json-guard.ts).

/** Most operations in one JSON patch (kube-apiserver's limit). */
export const MAX_JSON_PATCH_OPERATIONS = 10_000;

/**
 * Most JSON a patch's `copy` operations may add: the only operation that can grow an object past
 * the request's own size (each copy of the root doubles it).
 */
export const MAX_JSON_PATCH_COPIED_BYTES = 4 * 1024 * 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces.
 * `path` is where `patch` sits in the object (for error causes).
 */
export function applyMergePatch(target: unknown, patch: unknown, path = ""): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    const field = path ? `${path}.${k}` : k;
    if (k === FORBIDDEN_KEY) throw forbiddenKey(field);
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(Object.hasOwn(out, k) ? out[k] : undefined, v, field);
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: unknown;
}

function badPatch(message: string, field?: string): ApiError {
  return new ApiError("BadRequest", `json patch: ${message}`, field !== undefined ? { causes: [{ field, message, reason: "FieldValueInvalid" }] } : undefined);
}

/** RFC 6901: `/a/b~1c` → ["a", "b/c"]; `~` must be followed by 0 or 1. */
function parsePointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw badPatch(`invalid path "${path}": a JSON pointer starts with "/"`, path);
  return path
    .slice(1)
    .split("/")
    .map((s) => {
      if (/~(?![01])/.test(s)) throw badPatch(`invalid path "${path}": "~" must be followed by 0 or 1`, path);
      const token = s.replace(/~1/g, "/").replace(/~0/g, "~");
      if (token === FORBIDDEN_KEY) throw forbiddenKey(path);
      return token;
    });
}

/** An array index token (RFC 6901: no sign, no leading zero), or undefined. */
function arrayIndex(token: string): number | undefined {
  return /^(0|[1-9]\d{0,14})$/.test(token) ? Number(token) : undefined;
}

function missing(path: string): ApiError {
  return badPatch(`path "${path}" does not exist`, path);
}

/** Whether `container` holds `token` as its own member. */
function has(container: unknown, token: string): boolean {
  if (Array.isArray(container)) {
    const i = arrayIndex(token);
    return i !== undefined && i < container.length;
  }
  return isObject(container) && Object.hasOwn(container, token);
}

function getAt(doc: unknown, tokens: string[], path: string): unknown {
  let cur: any = doc;
  for (const t of tokens) {
    if (!has(cur, t)) throw missing(path);
    cur = cur[t];
  }
  return cur;
}

/** The container that holds the last token (which itself may or may not exist). */
function containerOf(doc: unknown, tokens: string[], path: string): { parent: Record<string, unknown> | unknown[]; key: string } {
  const parent = getAt(doc, tokens.slice(0, -1), path);
  if (!isObject(parent) && !Array.isArray(parent)) throw missing(path);
  return { parent, key: tokens[tokens.length - 1]! };
}

/** A JSON patch applied to its own copy of a document. */
class PatchedDocument {
  private copied = 0;

  constructor(public doc: unknown) {}

  get(path: string): unknown {
    return getAt(this.doc, parsePointer(path), path);
  }

  add(path: string, value: unknown): void {
    const tokens = parsePointer(path);
    if (tokens.length === 0) {
      this.doc = value;
      return;
    }
    const { parent, key } = containerOf(this.doc, tokens, path);
    if (Array.isArray(parent)) {
      const i = key === "-" ? parent.length : arrayIndex(key);
      if (i === undefined || i > parent.length) throw badPatch(`bad array index in "${path}"`, path);
      parent.splice(i, 0, value);
    } else {
      parent[key] = value;
    }
  }

  replace(path: string, value: unknown): void {
    const tokens = parsePointer(path);
    if (tokens.length === 0) {
      this.doc = value;
      return;
    }
    const { parent, key } = containerOf(this.doc, tokens, path);
    if (!has(parent, key)) throw missing(path);
    (parent as Record<string, unknown>)[key] = value;
  }

  remove(path: string): unknown {
    const tokens = parsePointer(path);
    if (tokens.length === 0) throw badPatch("the whole object cannot be removed", path);
    const { parent, key } = containerOf(this.doc, tokens, path);
    if (!has(parent, key)) throw missing(path);
    if (Array.isArray(parent)) return parent.splice(arrayIndex(key)!, 1)[0];
    const old = parent[key];
    delete parent[key];
    return old;
  }

  copy(from: string, path: string): void {
    const value = structuredClone(this.get(from));
    this.copied += JSON.stringify(value)?.length ?? 0;
    if (this.copied > MAX_JSON_PATCH_COPIED_BYTES) {
      throw new ApiError("RequestEntityTooLarge", `json patch: copy operations add more than ${MAX_JSON_PATCH_COPIED_BYTES} bytes to the object`);
    }
    this.add(path, value);
  }
}

function fromOf(raw: JsonPatchOp, i: number): string {
  if (typeof raw.from !== "string") throw badPatch(`operation ${i} ("${raw.op}") needs "from"`, `[${i}].from`);
  return raw.from;
}

function valueOf(raw: JsonPatchOp, i: number): unknown {
  if (!Object.hasOwn(raw, "value")) throw badPatch(`operation ${i} ("${raw.op}") needs "value"`, `[${i}].value`);
  return structuredClone(raw.value);
}

/** RFC 6902 JSON patch, applied to a deep copy of `target`. */
export function applyJsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badPatch("the body must be an array of operations");
  if (ops.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new ApiError("RequestEntityTooLarge", `json patch: ${ops.length} operations; at most ${MAX_JSON_PATCH_OPERATIONS} are accepted`);
  }
  const d = new PatchedDocument(structuredClone(target));
  for (const [i, raw] of (ops as JsonPatchOp[]).entries()) {
    if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") {
      throw badPatch('every operation needs "op" and "path" (strings)', `[${i}]`);
    }
    switch (raw.op) {
      case "add":
        d.add(raw.path, valueOf(raw, i));
        break;
      case "replace":
        d.replace(raw.path, valueOf(raw, i));
        break;
      case "remove":
        d.remove(raw.path);
        break;
      case "move": {
        const from = fromOf(raw, i);
        if (raw.path.startsWith(`${from}/`)) throw badPatch(`cannot move "${from}" into itself ("${raw.path}")`, raw.path);
        const value = d.get(from);
        if (from !== raw.path) {
          d.remove(from);
          d.add(raw.path, value);
        }
        break;
      }
      case "copy":
        d.copy(fromOf(raw, i), raw.path);
        break;
      case "test":
        if (!isDeepStrictEqual(d.get(raw.path), valueOf(raw, i))) throw new ApiError("Invalid", `json patch: test failed at "${raw.path}"`);
        break;
      default:
        throw badPatch(`unknown op "${raw.op}"`, `[${i}].op`);
    }
  }
  return d.doc;
}
