import { KINDS, type KindInfo } from "@eiaas/api";
import pg from "pg";
import type { StoredObject } from "./codec.js";
import { InformerStore, type Indexers } from "./informer-store.js";
import { listSnapshot } from "./list-snapshot.js";
import { SharedReads } from "./shared-reads.js";
import { LogListener } from "./log-listener.js";
import { readLogAfter, type WatchEventRecord } from "./watch-log.js";

export interface InformerOptions<T> {
  /** Lists and log reads run here. Default: a pool of its own (4 connections) on `databaseUrl`. */
  pool?: pg.Pool;
  /** Where to LISTEN for commits (and to open the pool if none is given). Without it: no LISTEN, reads on `sync()` and polls only. */
  databaseUrl?: string;
  /** Kinds held and tailed. Default: every kind. */
  kinds?: readonly KindInfo[];
  /**
   * What the store holds for an object: the object itself or a wrapper of it. `fromLog` says the
   * object is the log's text (as the writer wrote it) rather than a row read by the list.
   */
  transform: (kind: KindInfo, object: StoredObject, fromLog: boolean) => T;
  /** Secondary indexes of the store (see {@link Indexers}). */
  indexers?: Indexers<T>;
  /**
   * Also read the log this often, whatever LISTEN says: the fallback for a lost notification or a
   * LISTEN connection that dropped. 0: never (a consumer that calls `sync()` on its own schedule).
   * Default 1000 ms.
   */
  pollIntervalMs?: number;
  /** Most log entries read per round trip. Default 5000. */
  pageSize?: number;
  /** Hears of the informer's own failures (a list, a read of the log, the LISTEN connection). */
  onError?: (err: Error) => void;
  /**
   * Hears of a handler that threw without an `onError` of its own: it has been dropped, and the
   * informer and every other handler went on. Default: nothing.
   */
  onListenerError?: (err: unknown) => void;
}

/** What a re-list tells handlers. */
export interface RelistInfo {
  /** The version the new list is at. */
  resourceVersion: bigint;
  /**
   * The log after the informer's cursor had been compacted away (410 Gone): the raw stream
   * (`onEvents`) skipped changes. False when the re-list only rebuilt a store in doubt.
   */
  gap: boolean;
}

/**
 * What a consumer hears (client-go's ResourceEventHandler plus the raw stream). Per-object
 * handlers see the changes after the store's list; after a re-list they get `onRelist` and read
 * the store again.
 */
export interface InformerHandlers<T> {
  onAdd?(kind: KindInfo, item: T): void;
  onUpdate?(kind: KindInfo, old: T, item: T): void;
  /** `old` is what the store held (undefined: nothing, e.g. a delete of an object never listed). */
  onDelete?(kind: KindInfo, old: T | undefined, event: WatchEventRecord): void;
  /** Every batch of log entries as read, in order, with no gap unless `onRelist` says so. */
  onEvents?(events: WatchEventRecord[]): void;
  /** The store was rebuilt from a list. */
  onRelist?(info: RelistInfo): void;
  /** LISTEN heard a commit (or came back): for consumers that read on their own schedule (`sync`). */
  onNotify?(): void;
}

export interface HandlerOptions {
  /**
   * A notification makes the informer read the log at once for this consumer (a watcher). Without
   * it, reads happen on `sync()` and polls only (a cache read on demand). Default false.
   */
  eager?: boolean;
  /**
   * Called when a handler throws: the consumer stays registered and deals with what it failed on.
   * Without it, a consumer that throws is dropped (`InformerOptions.onListenerError`).
   */
  onError?: (err: unknown) => void;
}

type Registration<T> = { handlers: InformerHandlers<T>; options: HandlerOptions };

/** One applied change, for the per-object handlers. */
type Change<T> = { kind: KindInfo; old: T | undefined; item: T | undefined; event: WatchEventRecord };

/**
 * The one reflector + informer on the watch log (client-go's, with the log in place of a watch
 * stream): lists every object of its kinds at a resourceVersion, then tails the log after it —
 * versions follow commit order, so reading in order after the cursor misses nothing. LISTEN wakes
 * it; a periodic poll covers a lost notification or a dropped LISTEN connection. When the log after
 * its cursor was compacted away it lists again (410 Gone semantics) and tells its handlers.
 * `sync()` is the consistent read: it resolves once every change committed before the call is in
 * the store and handed to the handlers. Reads are shared: one at a time, concurrent callers join.
 */
export class Informer<T> {
  readonly pool: pg.Pool;
  private readonly ownPool: boolean;
  private readonly kinds: Map<string, KindInfo>;
  private readonly kindNames: string[];
  private readonly store: InformerStore<T>;
  private readonly registrations = new Set<Registration<T>>();
  private listener?: LogListener;
  private timer?: NodeJS.Timeout;
  /** The log is read up to here (every consumer of `onEvents` has had everything up to it). */
  private cursor = 0n;
  /** The version of the last list: log entries at or below it are already in the store. */
  private listedAt = -1n;
  private stale = true;
  private closed = false;
  /** One read of the log at a time, shared by every caller. */
  private readonly reads = new SharedReads(
    () => this.readOnce(),
    (err) => this.options.onError?.(err),
  );

  constructor(private readonly options: InformerOptions<T>) {
    this.kinds = new Map((options.kinds ?? KINDS).map((k) => [k.kind, k]));
    this.kindNames = [...this.kinds.keys()];
    this.store = new InformerStore(options.indexers);
    if (options.pool) {
      this.pool = options.pool;
      this.ownPool = false;
    } else {
      if (!options.databaseUrl) throw new Error("informer: a pool or a databaseUrl is required");
      this.pool = new pg.Pool({ connectionString: options.databaseUrl, max: 4, connectionTimeoutMillis: 3_000 });
      this.pool.on("error", (err) => this.options.onError?.(err));
      // A checked-out client's connection error (Postgres going away) fails its query, never the process.
      this.pool.on("connect", (client) => client.on("error", () => undefined));
      this.ownPool = true;
    }
  }

  /** Lists, then listens (with `databaseUrl`) and polls (unless `pollIntervalMs` is 0). */
  async start(): Promise<void> {
    await this.sync();
    this.listen();
    const every = this.options.pollIntervalMs ?? 1_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.poll(), every);
      this.timer.unref();
    }
  }

  /**
   * Starts the LISTEN connection (idempotent; without a database URL, nothing). `onError` hears of
   * its failures (default the informer's `onError`); it reconnects by itself.
   */
  listen(databaseUrl = this.options.databaseUrl, onError = this.options.onError): void {
    if (this.listener || !databaseUrl || this.closed) return;
    this.listener = new LogListener({ databaseUrl, onNotify: () => this.notified(), onError: (err) => onError?.(err) });
    this.listener.start();
  }

  /** Stops the LISTEN connection (reads go on: `sync`, polls). */
  async unlisten(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    await listener?.stop();
  }

  /** Whether the LISTEN connection is up. */
  get listening(): boolean {
    return this.listener?.connected ?? false;
  }

  /**
   * Registers a consumer; returns its unregistration. A consumer added after the first list reads
   * the store for what came before.
   */
  addHandlers(handlers: InformerHandlers<T>, options: HandlerOptions = {}): () => void {
    const r: Registration<T> = { handlers, options };
    this.registrations.add(r);
    return () => void this.registrations.delete(r);
  }

  /** The newest resourceVersion read from the log (or listed). */
  get resourceVersion(): bigint {
    return this.cursor;
  }

  /** Whether the store reflects a list and the log after it (not before the first list, not after an error left it in doubt). */
  get synced(): boolean {
    return !this.stale;
  }

  /** Number of objects held. */
  get size(): number {
    return this.store.size;
  }

  /** Whether `kind` is held. */
  has(kind: KindInfo): boolean {
    return this.kinds.has(kind.kind);
  }

  /** The item held for the object, as far as the informer has read (see `sync`). */
  get(kind: KindInfo, namespace: string | undefined, name: string): T | undefined {
    return this.store.get(kind.kind, kind.namespaced ? (namespace ?? "") : "", name);
  }

  /** The items of `kind`, of one namespace or of all, as far as the informer has read. */
  list(kind: KindInfo, namespace?: string): IterableIterator<T> {
    return this.store.list(kind.kind, kind.namespaced ? namespace : undefined);
  }

  /** The items an indexer put under `value`. */
  byIndex(index: string, value: string): T[] {
    return this.store.byIndex(index, value);
  }

  /** Makes the next read list again before it answers (the store is in doubt). */
  invalidate(): void {
    this.stale = true;
  }

  private notified(): void {
    let eager = false;
    for (const r of [...this.registrations]) {
      if (r.options.eager) eager = true;
      if (r.handlers.onNotify) this.call(r, () => r.handlers.onNotify!());
    }
    if (eager) void this.poll();
  }

  /** Reads everything after the cursor and hands it to the handlers, one read at a time. */
  poll(): Promise<void> {
    return this.reads.poll();
  }

  /**
   * Resolves once every change committed before the call is in the store and handed to the
   * handlers: after a read of the log that started after the call (a list first, when the store is
   * in doubt). Concurrent callers share reads, so a burst of consistent reads costs one query per
   * round trip, not one per caller (the pattern of Kubernetes' consistent reads from its watch
   * cache). Rejects when that read fails.
   */
  sync(): Promise<void> {
    return this.reads.sync();
  }

  private async readOnce(): Promise<void> {
    const page = this.options.pageSize ?? 5_000;
    for (;;) {
      if (this.stale) await this.relist(false);
      const { compacted, events } = await readLogAfter(this.pool, this.cursor, this.kindNames, page);
      // The entries after the cursor may be gone: only a re-list is exact then.
      if (compacted > this.cursor) {
        await this.relist(true);
        continue;
      }
      if (events.length === 0) return;
      this.cursor = events[events.length - 1]!.resourceVersion;
      this.deliver(events);
      // A batch the store could not take: list again before anyone is told the read is done.
      if ((events.length < page && !this.stale) || this.closed) return;
    }
  }

  /**
   * Rebuilds the store from a list. The cursor stays where it was unless the log after it is gone
   * (`gap`, or the first list): the raw stream then goes on without a hole, and entries the list
   * already holds are not applied twice.
   */
  private async relist(gap: boolean): Promise<void> {
    const listed = await listSnapshot(this.pool, [...this.kinds.values()]);
    this.store.clear();
    for (const [kind, objects] of listed.objects) {
      for (const o of objects) this.store.put(kind, o.metadata.namespace ?? "", o.metadata.name, this.options.transform(kind, o, false));
    }
    const first = this.listedAt < 0n;
    this.listedAt = listed.resourceVersion;
    if (gap || first || this.cursor > listed.resourceVersion) this.cursor = listed.resourceVersion;
    this.stale = false;
    const info: RelistInfo = { resourceVersion: listed.resourceVersion, gap: gap && !first };
    for (const r of [...this.registrations]) if (r.handlers.onRelist) this.call(r, () => r.handlers.onRelist!(info));
  }

  /** Applies a batch to the store, then hands it to every consumer, each on its own. */
  private deliver(events: WatchEventRecord[]): void {
    const changes: Change<T>[] = [];
    // Only consumers of single changes need them collected (the watch cache reads the store).
    let collect = false;
    for (const r of this.registrations) if (r.handlers.onAdd || r.handlers.onUpdate || r.handlers.onDelete) collect = true;
    for (const e of events) {
      if (e.resourceVersion <= this.listedAt || this.stale) continue;
      const kind = this.kinds.get(e.kind);
      if (!kind) continue;
      try {
        const item = e.type === "DELETED" ? undefined : this.options.transform(kind, e.object, true);
        const old = item === undefined ? this.store.remove(kind, e.namespace, e.name) : this.store.put(kind, e.namespace, e.name, item);
        if (collect) changes.push({ kind, old, item, event: e });
      } catch (err) {
        // An object it cannot hold leaves the store in doubt: it lists again before its next answer.
        this.stale = true;
        this.options.onError?.(err as Error);
      }
    }
    for (const r of [...this.registrations]) {
      const h = r.handlers;
      if (h.onAdd || h.onUpdate || h.onDelete) this.call(r, () => notifyChanges(h, changes));
      if (h.onEvents && this.registrations.has(r)) this.call(r, () => h.onEvents!(events));
    }
  }

  /** Runs one consumer's handler: a throw is that consumer's, never the informer's or another's. */
  private call(r: Registration<T>, f: () => void): void {
    try {
      f();
    } catch (err) {
      let failure = err;
      if (r.options.onError) {
        try {
          r.options.onError(err);
          return;
        } catch (again) {
          failure = again;
        }
      }
      this.registrations.delete(r);
      this.options.onListenerError?.(failure);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.registrations.clear();
    await this.reads.close();
    await this.unlisten();
    this.store.clear();
    if (this.ownPool) await this.pool.end().catch(() => undefined);
  }
}

function notifyChanges<T>(h: InformerHandlers<T>, changes: Change<T>[]): void {
  for (const c of changes) {
    if (c.item === undefined) h.onDelete?.(c.kind, c.old, c.event);
    else if (c.old === undefined) h.onAdd?.(c.kind, c.item);
    else h.onUpdate?.(c.kind, c.old, c.item);
  }
}
