import type { KindInfo } from "@eiaas/api";
import { clusterStateOf, type ClusterState } from "./cluster-state.js";
import { canonicalObject, type StoredObject } from "./codec.js";
import { Informer, type InformerOptions } from "./informer.js";

export interface ObjectCacheOptions {
  /** The process's informer over the cached kinds (see {@link objectCacheInformer}), started by the caller. */
  informer: Informer<CachedObject>;
  /** How long a consistent read waits for the cache to catch up before giving up. Default 2,000 ms. */
  syncTimeoutMs?: number;
}

export interface ObjectCacheInformerOptions extends Pick<InformerOptions<CachedObject>, "databaseUrl" | "pool" | "pollIntervalMs" | "onError" | "onListenerError"> {
  /** Kinds kept. Default: every kind. */
  kinds?: readonly KindInfo[];
  /** Deep-freeze every object held, so a caller that mutates one fails loudly (tests). Default false. */
  freeze?: boolean;
}

/** The index of cached Tasks by the node they are bound to (an agent's reads are authorized by its node's tasks). */
const TASKS_BY_NODE = "taskNode";

/**
 * The API server's informer: every object of the cached kinds as a {@link CachedObject} (its JSON
 * kept until it changes), Tasks indexed by node. The watch cache ({@link ObjectCache}), the change
 * feed of watchers and the planning reads (`clusterState`) all read it.
 */
export function objectCacheInformer(options: ObjectCacheInformerOptions): Informer<CachedObject> {
  const { freeze, ...rest } = options;
  return new Informer<CachedObject>({
    ...rest,
    // A logged object is the writer's text; printed as a read of the row prints it, key for key.
    transform: (kind, object, fromLog) => new CachedObject(fromLog ? canonicalObject(kind, object) : object, freeze),
    indexers: { [TASKS_BY_NODE]: (kind, c) => (kind.kind === "Task" ? (c.object.spec?.nodeName as string | undefined) || undefined : undefined) },
  });
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
  constructor(
    readonly object: StoredObject,
    freeze = false,
  ) {
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

/**
 * Every object of the cached kinds, in memory, kept current by the informer: the API server's
 * watch cache. Reads are consistent: `get` first waits for a read of the change log that started
 * after the call (`Informer.sync`), so a GET sees every write committed before it arrived, from
 * any process — the Kubernetes contract for a GET without resourceVersion — while a burst of GETs
 * costs one small query per round trip instead of one row fetch each. When the informer is in
 * doubt (a feed error, an object it could not take) it lists again before it answers.
 */
export class ObjectCache {
  private readonly informer: Informer<CachedObject>;
  private started = false;

  constructor(private readonly options: ObjectCacheOptions) {
    this.informer = options.informer;
  }

  /** Waits for the informer's first list. */
  async start(): Promise<void> {
    this.started = true;
    await this.informer.sync();
  }

  stop(): void {
    this.started = false;
  }

  /** Whether `kind` is kept here. */
  has(kind: KindInfo): boolean {
    return this.informer.has(kind);
  }

  /** Number of objects held. */
  get size(): number {
    return this.informer.size;
  }

  /**
   * The object as of a moment after the call (null: there is none). Rejects when the cache cannot
   * prove itself current (feed or database error, or no catch-up within `syncTimeoutMs`): the
   * caller then reads Postgres, which answers or reports the outage.
   */
  async get(kind: KindInfo, namespace: string | undefined, name: string): Promise<CachedObject | null> {
    if (!this.started) throw new Error("object cache not started");
    if (!this.informer.has(kind)) throw new Error(`kind ${kind.kind} is not cached`);
    await this.withTimeout(this.informer.sync());
    return this.informer.get(kind, namespace, name) ?? null;
  }

  /**
   * The object as far as the cache has caught up, without waiting: possibly stale (undefined when
   * the cache cannot tell, e.g. before its list or after a feed error). Only for callers that
   * check what they read, such as a write conditional on the version it read.
   */
  peek(kind: KindInfo, namespace: string | undefined, name: string): CachedObject | null | undefined {
    if (!this.started || !this.informer.synced || !this.informer.has(kind)) return undefined;
    return this.informer.get(kind, namespace, name) ?? null;
  }

  /**
   * The Tasks bound to `nodeName` as far as the cache has caught up, without waiting (empty when
   * the cache cannot tell, e.g. before its list or after a feed error). For authorization checks
   * that may lag a write by the feed's delay.
   */
  tasksOn(nodeName: string): CachedObject[] {
    if (!this.started || !this.informer.synced) return [];
    return this.informer.byIndex(TASKS_BY_NODE, nodeName);
  }

  /**
   * What a Snapshot is built from (nodes, tenants, tasks, profiles, model generations), as of a
   * moment after the call: the consistent read of `get`, then the objects held — no read of the
   * tables per request (dryRun, endpoint ranking, discovery).
   */
  async clusterState(): Promise<ClusterState> {
    if (!this.started) throw new Error("object cache not started");
    await this.withTimeout(this.informer.sync());
    const objects = (kind: KindInfo) => Array.from(this.informer.list(kind), (c) => c.object);
    return clusterStateOf(this.informer.resourceVersion.toString(), objects);
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

  /** Marks the cache for a relist (the feed may have missed changes, e.g. while Postgres was away). */
  invalidate(): void {
    this.informer.invalidate();
  }
}
