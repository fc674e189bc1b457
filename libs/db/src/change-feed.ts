import pg from "pg";
import { StoreError } from "./errors.js";
import type { StoredObject } from "./codec.js";
import { prepared } from "./prepared.js";
import { WATCH_CHANNEL } from "./write-template.js";

export interface WatchEventRecord {
  resourceVersion: bigint;
  kind: string;
  namespace: string;
  name: string;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: StoredObject;
}

export interface ChangeFeedOptions {
  databaseUrl: string;
  /** Re-read the log this often even without a NOTIFY (a missed notification only delays). Default 1000 ms. */
  pollIntervalMs?: number;
  /** Keep log entries this long for watch resumes; older resumes get 410 Gone. Default 15 min. */
  retentionMs?: number;
  /** How often to compact the log. Default 60 s. */
  compactIntervalMs?: number;
  /** Hears of the feed's own failures (a read of the log, the LISTEN connection): changes may have been missed. */
  onError?: (err: Error) => void;
  /**
   * Hears of a listener that threw without an `onError` of its own: it has been dropped, and the
   * feed and every other listener went on. A listener's exception is its own problem, never a
   * missed change of the feed's (so this is not `onError`). Default: nothing.
   */
  onListenerError?: (err: unknown) => void;
}

type Listener = (events: WatchEventRecord[]) => void;

export interface SubscribeOptions {
  /**
   * A listener that is brought up to date by `sync()` when it is read (a cache) and needs no read
   * of the log per notification. Default false.
   */
  passive?: boolean;
  /**
   * Called when the listener throws: it stays subscribed and deals with the batch it failed on
   * (a cache marks itself stale). Without it, a listener that throws is dropped and
   * `ChangeFeedOptions.onListenerError` hears of it.
   */
  onError?: (err: unknown) => void;
}

interface Row {
  resource_version: string;
  kind: string;
  namespace: string;
  name: string;
  type: WatchEventRecord["type"];
  object: StoredObject;
}

function toRecord(r: Row): WatchEventRecord {
  return { resourceVersion: BigInt(r.resource_version), kind: r.kind, namespace: r.namespace, name: r.name, type: r.type, object: r.object };
}

/**
 * Tails the watch log: one LISTEN connection per process, one read per change, fanned out to every
 * in-process watcher. Watchers resuming from an older version read their backlog first (410 Gone
 * when it was compacted away).
 */
export class ChangeFeed {
  private client?: pg.Client;
  private readonly pool: pg.Pool;
  private cursor = 0n;
  /** Each listener and what it asked to hear of its own exceptions. */
  private readonly listeners = new Map<Listener, SubscribeOptions>();
  /** Listeners that read on demand (`sync`) and need no read per notification. */
  private readonly passive = new Set<Listener>();
  private timers: NodeJS.Timeout[] = [];
  private fetching?: Promise<void>;
  private again = false;
  private closed = false;
  /** Reads of the log started / the highest read a `sync()` caller waits for. */
  private readsStarted = 0;
  private syncWanted = 0;
  private syncWaiters: Array<{ need: number; resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(private readonly options: ChangeFeedOptions) {
    this.pool = new pg.Pool({ connectionString: options.databaseUrl, max: 4, connectionTimeoutMillis: 3_000 });
    this.pool.on("error", (err) => this.options.onError?.(err));
    // A checked-out client's connection error (Postgres going away) fails its query, never the process.
    this.pool.on("connect", (client) => client.on("error", () => undefined));
  }

  async start(): Promise<void> {
    const r = await this.pool.query<{ value: string }>(`SELECT value::text FROM resource_version_counter WHERE id = 1`);
    this.cursor = BigInt(r.rows[0]?.value ?? "0");
    await this.connectListener().catch((err) => this.options.onError?.(err));
    this.timers.push(setInterval(() => void this.poll(), this.options.pollIntervalMs ?? 1_000));
    this.timers.push(setInterval(() => void this.compact().catch((err) => this.options.onError?.(err)), this.options.compactIntervalMs ?? 60_000));
    for (const t of this.timers) t.unref();
  }

  private async connectListener(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.options.databaseUrl, connectionTimeoutMillis: 3_000 });
    // With nobody watching there is nothing to deliver: the periodic poll moves the cursor.
    client.on("notification", () => {
      if (this.listeners.size > this.passive.size) void this.poll();
    });
    client.on("error", (err) => {
      this.options.onError?.(err);
      this.client = undefined;
      // Reconnect later; the periodic poll keeps watchers fed meanwhile.
      setTimeout(() => void this.connectListener().catch(() => undefined), 1_000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${WATCH_CHANNEL}`);
    this.client = client;
  }

  /** The newest resourceVersion the feed has delivered. */
  get resourceVersion(): bigint {
    return this.cursor;
  }

  /**
   * Hands every change to `listener`. A `passive` listener (a cache that is brought up to date by
   * `sync()` when it is read) does not make the feed read the log on every notification; the
   * periodic poll and any sync still deliver to it. Listeners are isolated from each other: one
   * that throws never keeps a batch from the others (see {@link SubscribeOptions.onError}).
   */
  subscribe(listener: Listener, options: SubscribeOptions = {}): () => void {
    this.listeners.set(listener, options);
    if (options.passive) this.passive.add(listener);
    return () => this.unsubscribe(listener);
  }

  private unsubscribe(listener: Listener): void {
    this.listeners.delete(listener);
    this.passive.delete(listener);
  }

  /** Hands `events` to every listener, each on its own: a throw is that listener's, not the feed's. */
  private deliver(events: WatchEventRecord[]): void {
    for (const [listener, options] of this.listeners) {
      try {
        listener(events);
      } catch (err) {
        if (options.onError) {
          try {
            options.onError(err);
          } catch (again) {
            this.unsubscribe(listener);
            this.options.onListenerError?.(again);
          }
        } else {
          this.unsubscribe(listener);
          this.options.onListenerError?.(err);
        }
      }
    }
  }

  /** Reads the log after `from` up to the feed's cursor (for a resuming watcher). */
  async backlog(from: bigint, kind: string, upTo: bigint): Promise<WatchEventRecord[]> {
    const oldest = await this.pool.query<{ resource_version: string }>(`SELECT resource_version::text FROM watch_compaction WHERE id = 1`);
    const compacted = BigInt(oldest.rows[0]?.resource_version ?? "0");
    if (from < compacted) {
      throw new StoreError("Gone", `too old resource version: ${from} (${compacted})`);
    }
    const r = await this.pool.query<Row>(
      `SELECT resource_version::text, kind, namespace, name, type, object FROM watch_events
       WHERE kind = $1 AND resource_version > $2 AND resource_version <= $3 ORDER BY watch_events.resource_version`,
      [kind, from.toString(), upTo.toString()],
    );
    return r.rows.map(toRecord);
  }

  /** Reads everything after the cursor and hands it to listeners, one read at a time. */
  poll(): Promise<void> {
    if (this.fetching) {
      this.again = true;
      return this.fetching;
    }
    this.fetching = (async () => {
      do {
        this.again = false;
        const read = ++this.readsStarted;
        try {
          await this.readOnce();
          this.readDone(read);
        } catch (err) {
          this.options.onError?.(err as Error);
          this.readFailed(read, err as Error);
          break;
        }
      } while ((this.again || this.syncWanted > this.readsStarted) && !this.closed);
    })().finally(() => {
      this.fetching = undefined;
      // A sync() that arrived after the loop's last check but before this point still gets its read.
      if (this.syncWanted > this.readsStarted && !this.closed) void this.poll();
    });
    return this.fetching;
  }

  /**
   * Resolves once every change committed before the call has been handed to listeners: after a
   * read of the log that started after the call. Concurrent callers share reads, so a burst of
   * consistent reads costs one query per round trip, not one per caller (the pattern of
   * Kubernetes' consistent reads from its watch cache). Rejects when that read fails.
   */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new StoreError("Unavailable", "change feed closed"));
    const need = this.readsStarted + 1;
    if (need > this.syncWanted) this.syncWanted = need;
    const done = new Promise<void>((resolve, reject) => this.syncWaiters.push({ need, resolve, reject }));
    if (this.fetching) this.again = true;
    else void this.poll();
    return done;
  }

  private async readOnce(): Promise<void> {
    if (this.listeners.size === 0) {
      // Nobody is watching: move the cursor to the newest committed version without reading
      // the entries (a watcher that subscribes later reads its start from the log itself).
      // Versions follow commit order, so everything up to the committed counter is in the log.
      const top = await this.pool.query<{ value: string }>(`SELECT value::text AS value FROM resource_version_counter WHERE id = 1`);
      if (this.listeners.size === 0) {
        const v = BigInt(top.rows[0]?.value ?? "0");
        if (v > this.cursor) this.cursor = v;
        return;
      }
      // Someone subscribed meanwhile: deliver from the cursor as usual.
    }
    for (;;) {
      const r = await this.pool.query<Row>(
        prepared(
          `SELECT resource_version::text, kind, namespace, name, type, object FROM watch_events
         WHERE resource_version > $1 ORDER BY watch_events.resource_version LIMIT 5000`,
          [this.cursor.toString()],
        ),
      );
      if (r.rows.length === 0) return;
      const events = r.rows.map(toRecord);
      this.cursor = events[events.length - 1]!.resourceVersion;
      this.deliver(events);
      if (r.rows.length < 5000 || this.closed) return;
    }
  }

  private readDone(read: number): void {
    if (this.syncWaiters.length === 0) return;
    const waiting = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiting) {
      if (w.need <= read) w.resolve();
      else this.syncWaiters.push(w);
    }
  }

  private readFailed(read: number, err: Error): void {
    const waiting = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiting) {
      if (w.need <= read) w.reject(err);
      else this.syncWaiters.push(w);
    }
    // Waiters for a later read that will not start now (the loop stops on errors) fail too.
    if (this.syncWanted > read) {
      for (const w of this.syncWaiters) w.reject(err);
      this.syncWaiters = [];
      this.syncWanted = read;
    }
  }

  /** Drops log entries older than the retention and records the oldest version still resumable. */
  async compact(now = new Date()): Promise<void> {
    const cutoff = new Date(now.getTime() - (this.options.retentionMs ?? 15 * 60_000));
    await this.pool.query(
      `WITH d AS (DELETE FROM watch_events WHERE created_at < $1 RETURNING resource_version)
       UPDATE watch_compaction SET resource_version = GREATEST(resource_version, (SELECT max(resource_version) FROM d))
       WHERE id = 1 AND EXISTS (SELECT 1 FROM d)`,
      [cutoff],
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const w of this.syncWaiters) w.reject(new StoreError("Unavailable", "change feed closed"));
    this.syncWaiters = [];
    this.listeners.clear();
    this.passive.clear();
    await this.fetching;
    await this.client?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
