import { COUNTED_RESOURCES, type KindInfo } from "@eiaas/api";
import type { StoredObject } from "./codec.js";
import { StoreError } from "./errors.js";
import { splitAtVersion, type LoggedText } from "./write-sql.js";

/**
 * Largest object the store writes, serialised: etcd's default request limit (1.5 MiB), which is
 * what bounds a Kubernetes object. Every API server's watch cache holds every object, and the
 * watch log another copy of each version.
 */
export const DEFAULT_MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;

/** Whether the kind's objects are counted per namespace (the tables with the counting triggers). */
export function isCounted(kind: KindInfo): boolean {
  return kind.namespaced && (COUNTED_RESOURCES as readonly string[]).includes(kind.plural);
}

/** UTF-8 bytes of the object's stored text (its resourceVersion aside). */
export function loggedBytes(text: LoggedText): number {
  return Buffer.byteLength(text.head) + Buffer.byteLength(text.tail);
}

/**
 * The object's stored text when it is within `limit` bytes, or when it is no larger than
 * `current` (an object stored before the limit, or under a larger one, must still take its
 * finalizers off, be marked deleted, have its status reported); else RequestEntityTooLarge.
 */
export function admitObjectSize(kind: KindInfo, object: StoredObject, limit: number, current?: StoredObject): LoggedText {
  const text = splitAtVersion(object);
  // A UTF-16 unit is at most 3 bytes of UTF-8: most objects need no count of their bytes.
  if ((text.head.length + text.tail.length) * 3 <= limit) return text;
  const bytes = loggedBytes(text);
  if (bytes <= limit || (current && bytes <= loggedBytes(splitAtVersion(current)))) return text;
  throw new StoreError("RequestEntityTooLarge", `Request entity too large: ${kind.plural} "${object.metadata.name}" would be ${bytes} bytes stored; limit is ${limit}`);
}

/** The Forbidden answer of a create that a count quota refused (Postgres' message is Kubernetes'). */
export function quotaExceeded(kind: KindInfo, names: readonly string[], err: unknown): StoreError {
  const why = (err as { message?: string }).message ?? "exceeded quota";
  const who = names.length === 1 ? `${kind.plural} "${names[0]}"` : `${names.length} ${kind.plural} created together`;
  return new StoreError("Forbidden", `${who} is forbidden: ${why}`);
}
