import type { KindInfo } from "@eiaas/api";
import type { ObjectCache, ObjectStore, StoredObject } from "@eiaas/db";

/** Reads one object as of a moment after the call. */
export interface ObjectReader {
  get(kind: KindInfo, namespace: string | undefined, name: string): Promise<StoredObject | null>;
  /** The latest the reader holds without waiting; may be stale; undefined when it cannot tell. */
  peek?(kind: KindInfo, namespace: string | undefined, name: string): StoredObject | null | undefined;
}

/**
 * Consistent reads from the watch cache (see ObjectCache), Postgres when the cache cannot show it
 * is current. Objects from the cache are shared: callers build new objects, never mutate them.
 */
export function objectReader(store: ObjectStore, cache: ObjectCache | undefined): ObjectReader {
  if (!cache) return store;
  return {
    peek(kind, namespace, name) {
      const c = cache.peek(kind, namespace, name);
      return c === undefined ? undefined : (c?.object ?? null);
    },
    async get(kind, namespace, name) {
      if (!cache.has(kind)) return store.get(kind, namespace, name);
      try {
        return (await cache.get(kind, namespace, name))?.object ?? null;
      } catch {
        return store.get(kind, namespace, name);
      }
    },
  };
}
