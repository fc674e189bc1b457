import type { KindInfo } from "@eiaas/api";

/**
 * Secondary indexes of an informer's store (client-go's Indexers): each maps an item to the one
 * value it is found under (undefined: not indexed), e.g. the node a Task is bound to.
 */
export type Indexers<T> = Record<string, (kind: KindInfo, item: T) => string | undefined>;

function keyOf(kind: string, namespace: string, name: string): string {
  return `${kind}\u0000${namespace}\u0000${name}`;
}

/**
 * What an informer holds: every object of its kinds by kind, namespace and name (cluster-scoped
 * kinds under namespace ""), plus the secondary indexes it was given. Items are replaced, never
 * changed in place.
 */
export class InformerStore<T> {
  /** kind → namespace → name → item. */
  private readonly byKind = new Map<string, Map<string, Map<string, T>>>();
  /** index name → value → key → item. */
  private readonly indexes = new Map<string, Map<string, Map<string, T>>>();
  private count = 0;

  constructor(private readonly indexers: Indexers<T> = {}) {
    for (const name of Object.keys(indexers)) this.indexes.set(name, new Map());
  }

  get size(): number {
    return this.count;
  }

  get(kind: string, namespace: string, name: string): T | undefined {
    return this.byKind.get(kind)?.get(namespace)?.get(name);
  }

  /** The items of `kind`, of one namespace or of all. */
  *list(kind: string, namespace?: string): IterableIterator<T> {
    const namespaces = this.byKind.get(kind);
    if (!namespaces) return;
    if (namespace !== undefined) {
      const names = namespaces.get(namespace);
      if (names) yield* names.values();
      return;
    }
    for (const names of namespaces.values()) yield* names.values();
  }

  /** The items found under `value` in index `index`. */
  byIndex(index: string, value: string): T[] {
    const items = this.indexes.get(index)?.get(value);
    return items ? [...items.values()] : [];
  }

  /** Puts `item`; returns what it replaced. */
  put(kind: KindInfo, namespace: string, name: string, item: T): T | undefined {
    let namespaces = this.byKind.get(kind.kind);
    if (!namespaces) this.byKind.set(kind.kind, (namespaces = new Map()));
    let names = namespaces.get(namespace);
    if (!names) namespaces.set(namespace, (names = new Map()));
    const old = names.get(name);
    names.set(name, item);
    if (old === undefined) this.count++;
    this.reindex(kind, keyOf(kind.kind, namespace, name), old, item);
    return old;
  }

  /** Removes the item; returns it (undefined: there was none). */
  remove(kind: KindInfo, namespace: string, name: string): T | undefined {
    const names = this.byKind.get(kind.kind)?.get(namespace);
    const old = names?.get(name);
    if (old === undefined) return undefined;
    names!.delete(name);
    if (names!.size === 0) this.byKind.get(kind.kind)!.delete(namespace);
    this.count--;
    this.reindex(kind, keyOf(kind.kind, namespace, name), old, undefined);
    return old;
  }

  clear(): void {
    this.byKind.clear();
    for (const values of this.indexes.values()) values.clear();
    this.count = 0;
  }

  private reindex(kind: KindInfo, key: string, old: T | undefined, item: T | undefined): void {
    for (const [name, indexer] of Object.entries(this.indexers)) {
      const values = this.indexes.get(name)!;
      const was = old === undefined ? undefined : indexer(kind, old);
      const now = item === undefined ? undefined : indexer(kind, item);
      if (was !== undefined && was !== now) {
        const items = values.get(was);
        items?.delete(key);
        if (items?.size === 0) values.delete(was);
      }
      if (now !== undefined) {
        let items = values.get(now);
        if (!items) values.set(now, (items = new Map()));
        items.set(key, item!);
      }
    }
  }
}
