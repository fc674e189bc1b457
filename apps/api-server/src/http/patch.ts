import { ApiError } from "./errors.js";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

interface JsonPatchOp {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  value?: unknown;
  from?: string;
}

function parsePointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new ApiError("BadRequest", `json patch: invalid path "${path}"`);
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: unknown, tokens: string[], path: string): { parent: any; key: string } {
  let cur: any = doc;
  for (const t of tokens.slice(0, -1)) {
    if (cur === null || typeof cur !== "object" || !(t in cur)) throw new ApiError("BadRequest", `json patch: path "${path}" does not exist`);
    cur = cur[t];
  }
  if (cur === null || typeof cur !== "object") throw new ApiError("BadRequest", `json patch: path "${path}" does not exist`);
  return { parent: cur, key: tokens[tokens.length - 1]! };
}

function getAt(doc: unknown, path: string): unknown {
  let cur: any = doc;
  for (const t of parsePointer(path)) {
    if (cur === null || typeof cur !== "object" || !(t in cur)) throw new ApiError("BadRequest", `json patch: path "${path}" does not exist`);
    cur = cur[t];
  }
  return cur;
}

/** RFC 6902 JSON patch, applied to a deep copy. */
export function applyJsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new ApiError("BadRequest", "json patch: the body must be an array of operations");
  let doc: unknown = structuredClone(target);
  for (const raw of ops as JsonPatchOp[]) {
    if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") {
      throw new ApiError("BadRequest", "json patch: every operation needs \"op\" and \"path\"");
    }
    const tokens = parsePointer(raw.path);
    const put = (value: unknown, insert: boolean) => {
      if (tokens.length === 0) {
        doc = value;
        return;
      }
      const { parent, key } = parentOf(doc, tokens, raw.path);
      if (Array.isArray(parent)) {
        const idx = key === "-" ? parent.length : Number(key);
        if (!Number.isInteger(idx) || idx < 0 || idx > parent.length) throw new ApiError("BadRequest", `json patch: bad array index in "${raw.path}"`);
        if (insert) parent.splice(idx, 0, value);
        else parent[idx] = value;
      } else parent[key] = value;
    };
    const remove = (path: string) => {
      const t = parsePointer(path);
      const { parent, key } = parentOf(doc, t, path);
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else {
        if (!(key in parent)) throw new ApiError("BadRequest", `json patch: path "${path}" does not exist`);
        delete parent[key];
      }
    };
    switch (raw.op) {
      case "add":
        put(structuredClone(raw.value), true);
        break;
      case "replace":
        getAt(doc, raw.path);
        put(structuredClone(raw.value), false);
        break;
      case "remove":
        remove(raw.path);
        break;
      case "move": {
        const v = getAt(doc, raw.from ?? "");
        remove(raw.from ?? "");
        put(v, true);
        break;
      }
      case "copy":
        put(structuredClone(getAt(doc, raw.from ?? "")), true);
        break;
      case "test":
        if (JSON.stringify(getAt(doc, raw.path)) !== JSON.stringify(raw.value)) {
          throw new ApiError("Invalid", `json patch: test failed at "${raw.path}"`);
        }
        break;
      default:
        throw new ApiError("BadRequest", `json patch: unknown op "${String(raw.op)}"`);
    }
  }
  return doc;
}
