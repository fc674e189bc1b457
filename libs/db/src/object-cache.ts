import type pg from "pg";
import { KINDS, type KindInfo } from "@eiaas/api";
import type { ChangeFeed, WatchEventRecord } from "./change-feed.js";
import { canonicalObject, rowToObject, type ObjectRow, type StoredObject } from "./codec.js";

export interface ObjectCacheOptions {
  pool: pg.Pool;
  /** Feeds every committed change; the cache subscribes for its whole life. */
  feed: ChangeFeed;
  /** Kinds kept. Default: every kind. */
  kinds?: readonly KindInfo[];
  /** How long a consistent read waits for the cache to catch up before giving up. Default 2,000 ms. */
  syncTimeoutMs?: number;
  /** Deep-freeze every object held, so a caller that mutates one fails loudly (tests). Default false. */
  freeze?: boolean;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** One cached object and its JSON, serialised on first use and kept until the object changes. */
export class CachedObject {
  private text?: string;
  /** JSON of derived views (e.g. what tenants see of an EdgeNode), by view name; rarely more than one. */
  private views?: Map<string, string>;
  constructor(readonly object: StoredObject, freeze = false) {
    if (freeze) deepFreeze(object);
  }

  get json(): string {
    return (this.text ??= JSON.stringify(this.object));
  }

  /**
   * The JSON of a view of the object that `derive` makes (a copy: the object is shared), derived
   * and serialised on first use and kept, like {@link json}, until the object changes. `view` names
   * the view: one `derive` per name.
   */
  viewJson(view: string, derive: (object: StoredObject) => unknown): string {
    this.views ??= new Map();
    let text = this.views.get(view);
    if (text === undefined) {
      text = JSON.stringify(derive(this.object));
      this.views.set(view, text);
    }
    return text;
  }
}

function keyOf(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ""}/${name}`;
}

/** The node a cached Task is bound to (the key of {@link ObjectCache.tasksOn}). */
function taskNode(kind: string, obj: StoredObject): string | undefined {
  return kind === "Task" ? (obj.spec?.nodeName as string | undefined) || undefined : undefined;
}

/**
 * Every object of the cached kinds, in memory, kept current by the change feed: the API server's
 * watch cache. Reads are consistent: `get` first waits for a read of the change log that started
 * after the call (`ChangeFeed.sync`), so a GET sees every write committed before it arrived, from
 * any process — the Kubernetes contract for a GET without resourceVersion — while a burst of GETs
 * costs one small query per round trip instead of one row fetch each.
 *
 * Built by one list of every table in a REPEATABLE READ snapshot that also reads the version
 * counter; changes up to that version are already in the list, later ones come from the feed.
 * After a feed error (Postgres away) the cache lists again before it answers.
 */
export class ObjectCache {
  private readonly objects = new Map<string, CachedObject>();
  /** Keys of the Tasks bound to each node: an agent's reads are authorized by its node's tasks. */
  private readonly tasksByNode = new Map<string, Set<string>>();
  private readonly kinds: Map<string, KindInfo>;
  /** Version the listed snapshot is at; feed events at or below it are already applied. */
  private listedAt = -1n;
  private buffered: WatchEventRecord[] | undefined = [];
  private unsubscribe?: () => void;
  private relisting?: Promise<void>;
  private stale = true;

  constructor(private readonly options: ObjectCacheOptions) {
    this.kinds = new Map((options.kinds ?? KINDS).map((k) => [k.kind, k]));
  }

  /** Subscribes to the feed and lists every cached table once. */
  async start(): Promise<void> {
    // Passive: reads sync the feed themselves, so a notification alone need not read the log.
    // A batch it cannot apply (an object it cannot read) leaves it unsure of what it holds: it
    // lists again before its next answer, and the feed goes on delivering to it and the others.
    this.unsubscribe = this.options.feed.subscribe((events) => this.onEvents(events), { passive: true, onError: () => this.invalidate() });
    await this.relist();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.objects.clear();
    this.tasksByNode.clear();
    this.stale = true;
  }

  /** Whether `kind` is kept here. */
  has(kind: KindInfo): boolean {
    return this.kinds.has(kind.kind);
  }

  /** Number of objects held. */
  get size(): number {
    return this.objects.size;
  }

  /**
   * The object as of a moment after the call (null: there is none). Rejects when the cache cannot
   * prove itself current (feed or database error, or no catch-up within `syncTimeoutMs`): the
   * caller then reads Postgres, which answers or reports the outage.
   */
  async get(kind: KindInfo, namespace: string | undefined, name: string): Promise<CachedObject | null> {
    if (!this.unsubscribe) throw new Error("object cache not started");
    if (!this.kinds.has(kind.kind)) throw new Error(`kind ${kind.kind} is not cached`);
    await this.withTimeout(this.options.feed.sync());
    if (this.stale) await this.withTimeout(this.relist());
    return this.objects.get(keyOf(kind.kind, kind.namespaced ? namespace : undefined, name)) ?? null;
  }

  /**
   * The object as far as the cache has caught up, without waiting: possibly stale (undefined when
   * the cache cannot tell, e.g. before its list or after a feed error). Only for callers that
   * check what they read, such as a write conditional on the version it read.
   */
  peek(kind: KindInfo, namespace: string | undefined, name: string): CachedObject | null | undefined {
    if (!this.unsubscribe || this.stale || !this.kinds.has(kind.kind)) return undefined;
    return this.objects.get(keyOf(kind.kind, kind.namespaced ? namespace : undefined, name)) ?? null;
  }

  /**
   * The Tasks bound to `nodeName` as far as the cache has caught up, without waiting (empty when
   * the cache cannot tell, e.g. before its list or after a feed error). For authorization checks
   * that may lag a write by the feed's delay.
   */
  tasksOn(nodeName: string): CachedObject[] {
    if (!this.unsubscribe || this.stale) return [];
    const keys = this.tasksByNode.get(nodeName);
    if (!keys) return [];
    const out: CachedObject[] = [];
    for (const k of keys) {
      const c = this.objects.get(k);
      if (c) out.push(c);
    }
    return out;
  }

  private async withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const limit = this.options.syncTimeoutMs ?? 2_000;
    try {
      return await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`object cache did not catch up within ${limit} ms`)), limit);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private onEvents(events: WatchEventRecord[]): void {
    if (this.buffered) {
      this.buffered.push(...events);
      return;
    }
    this.apply(events);
  }

  private apply(events: WatchEventRecord[]): void {
    for (const e of events) {
      if (e.resourceVersion <= this.listedAt) continue;
      const kind = this.kinds.get(e.kind);
      if (!kind) continue;
      const key = keyOf(e.kind, kind.namespaced ? e.namespace : undefined, e.name);
      if (e.type === "DELETED") this.remove(e.kind, key);
      else this.put(e.kind, key, new CachedObject(canonicalObject(kind, e.object), this.options.freeze));
    }
  }

  private put(kind: string, key: string, next: CachedObject): void {
    const before = this.objects.get(key);
    this.objects.set(key, next);
    const was = before && taskNode(kind, before.object);
    const now = taskNode(kind, next.object);
    if (was === now) return;
    if (was) this.unindex(was, key);
    if (now) {
      let keys = this.tasksByNode.get(now);
      if (!keys) this.tasksByNode.set(now, (keys = new Set()));
      keys.add(key);
    }
  }

  private remove(kind: string, key: string): void {
    const before = this.objects.get(key);
    this.objects.delete(key);
    const was = before && taskNode(kind, before.object);
    if (was) this.unindex(was, key);
  }

  private unindex(node: string, key: string): void {
    const keys = this.tasksByNode.get(node);
    keys?.delete(key);
    if (keys?.size === 0) this.tasksByNode.delete(node);
  }

  /** Lists every cached table in one snapshot; events the feed delivers meanwhile are replayed after. */
  private relist(): Promise<void> {
    this.relisting ??= (async () => {
      this.buffered ??= [];
      const client = await this.options.pool.connect();
      let failed = false;
      try {
        await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        const rv = await client.query<{ value: string }>(`SELECT value::text AS value FROM resource_version_counter WHERE id = 1`);
        const objects: Array<[string, string, CachedObject]> = [];
        for (const kind of this.kinds.values()) {
          const rows = await client.query<ObjectRow>(`SELECT * FROM "${kind.table}"`);
          for (const row of rows.rows) {
            const obj = rowToObject(kind, row);
            objects.push([kind.kind, keyOf(kind.kind, kind.namespaced ? obj.metadata.namespace : undefined, obj.metadata.name), new CachedObject(obj, this.options.freeze)]);
          }
        }
        await client.query("COMMIT");
        this.objects.clear();
        this.tasksByNode.clear();
        for (const [kind, k, v] of objects) this.put(kind, k, v);
        this.listedAt = BigInt(rv.rows[0]?.value ?? "0");
        const pending = this.buffered ?? [];
        this.buffered = undefined;
        this.apply(pending);
        this.stale = false;
      } catch (err) {
        failed = true;
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release(failed);
        this.relisting = undefined;
      }
    })();
    return this.relisting;
  }

  /** Marks the cache for a relist (the feed may have missed changes, e.g. while Postgres was away). */
  invalidate(): void {
    this.stale = true;
  }
}
