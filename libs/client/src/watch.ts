import type { IncomingMessage } from "node:http";
import { retry, type KindInfo } from "@eiaas/api";
import { ApiRequestError, ConnectionError, retryAfterMs } from "./errors.js";
import { ndjson, type QueryValue, type Transport } from "./transport.js";
import type { AnyObject, ObjectList, Table, WatchEvent, WatchEventType } from "./types.js";

/** Media type of server-side printing (same as the client's; kept here to avoid an import cycle). */
const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

export interface WatchOptions {
  /** Namespace of a namespaced kind; absent watches every namespace the token may see. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Resume after this resourceVersion (only later changes are delivered). Default: list first and
   * deliver the current objects as ADDED, then every change after the list.
   */
  resourceVersion?: string;
  /** Events carry one-row `meta.k8s.io` Tables (server-side printing) instead of objects. Default false. */
  table?: boolean;
  /** Ends the iteration (without an error) when aborted. */
  signal?: AbortSignal;
  /** Give up (rethrowing the last error) after the server has been unreachable this long, in ms. Default 60 000. */
  reconnectTimeoutMs?: number;
  /** Ceiling of the first reconnect delay in ms, doubled up to 5 s while failures last (full jitter below it). Default 250. */
  initialBackoffMs?: number;
  /** Told about every reconnect, e.g. to show progress. */
  onReconnect?: (info: ReconnectInfo) => void;
  /**
   * Called once the events of a full list have been delivered (at the start, and after each relist
   * on 410): what was delivered until then is the complete current state.
   */
  onSync?: () => void;
}

export interface ReconnectInfo {
  /** Consecutive failed attempts so far (0 when the stream simply ended). */
  attempt: number;
  /** The version the watch resumes from. */
  resourceVersion: string | undefined;
  /** Why the previous stream ended, when it failed. */
  error?: unknown;
  /** True when the server said the version was too old (410) and the watch listed again. */
  relisted: boolean;
}

/** What the watch needs from the client (an interface, so watch.ts and client.ts do not import each other). */
export interface WatchSource {
  readonly transport: Transport;
  path(kind: KindInfo, namespace?: string): string;
  listAll(kind: KindInfo, opts: { namespace?: string; labelSelector?: string; fieldSelector?: string; signal?: AbortSignal }): Promise<ObjectList>;
  table(kind: KindInfo, opts: { namespace?: string; labelSelector?: string; fieldSelector?: string; signal?: AbortSignal }): Promise<Table>;
}

interface Seen {
  rv: string;
  object: unknown;
}

/** Compares two resourceVersions (decimal strings, as the server assigns them in commit order). */
function rvLess(a: string, b: string): boolean {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(a) < BigInt(b);
  return a < b;
}

/**
 * A watch as an async iterator, like client-go's reflector: list, then watch from the list's
 * resourceVersion; when the stream ends or breaks, reconnect from the last version seen (nothing is
 * missed, duplicates are dropped); when the server answers 410 Gone, list again and deliver the
 * difference (ADDED / MODIFIED / DELETED) against what was seen before.
 */
export class Watch<T = AnyObject> implements AsyncIterable<WatchEvent<T>> {
  private rv: string | undefined;
  private readonly seen = new Map<string, Seen>();
  /** Versions of deletions delivered, so a repeat after a reconnect is dropped. */
  private readonly tombstones = new Map<string, string>();
  private current: IncomingMessage | undefined;
  private stopped = false;

  constructor(
    private readonly client: WatchSource,
    private readonly kind: KindInfo,
    private readonly opts: WatchOptions = {},
  ) {
    this.rv = opts.resourceVersion;
  }

  /** The last resourceVersion delivered (or listed). */
  get resourceVersion(): string | undefined {
    return this.rv;
  }

  /** Ends the current stream; the iteration then stops as if the signal were aborted. */
  stop(): void {
    this.stopped = true;
    this.current?.destroy();
  }

  private get done(): boolean {
    return this.stopped || this.opts.signal?.aborted === true;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent<T>> {
    const onAbort = () => this.current?.destroy();
    this.opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      if (this.rv === undefined) yield* this.relist();
      while (!this.done) {
        let res: IncomingMessage;
        try {
          res = await retry(() => this.open(), {
            initialMs: this.opts.initialBackoffMs ?? 250,
            maxMs: Math.max(this.opts.initialBackoffMs ?? 250, 5_000),
            maxElapsedMs: this.opts.reconnectTimeoutMs ?? 60_000,
            ...(this.opts.signal ? { signal: this.opts.signal } : {}),
            retryable: (err) => !this.done && retryable(err) && !(err instanceof ApiRequestError && err.code === 410),
            minDelayMs: retryAfterMs,
            onRetry: (error, r) => this.opts.onReconnect?.({ attempt: r.attempt + 1, resourceVersion: this.rv, error, relisted: false }),
          });
        } catch (err) {
          if (this.done) return;
          if (err instanceof ApiRequestError && err.code === 410) {
            yield* this.relist();
            this.opts.onReconnect?.({ attempt: 0, resourceVersion: this.rv, error: err, relisted: true });
            continue;
          }
          throw err;
        }
        this.current = res;
        let gone = false;
        let error: unknown;
        try {
          for await (const raw of ndjson(res)) {
            const ev = raw as { type?: string; object?: any };
            if (ev.type === "BOOKMARK") {
              const v = ev.object?.metadata?.resourceVersion;
              if (typeof v === "string" && v !== "") this.advance(v);
              continue;
            }
            if (ev.type === "ERROR") {
              if (ev.object?.code === 410) {
                gone = true;
                break;
              }
              throw new ApiRequestError(ev.object);
            }
            const out = this.accept(ev.type as WatchEventType, ev.object);
            if (out) yield out;
          }
        } catch (err) {
          if (err instanceof ApiRequestError) throw err;
          // A broken stream: reconnect from the last version seen.
          error = err;
        } finally {
          res.destroy();
          this.current = undefined;
        }
        if (this.done) return;
        if (gone) yield* this.relist();
        this.opts.onReconnect?.({ attempt: 0, resourceVersion: this.rv, ...(error ? { error } : {}), relisted: gone });
      }
    } finally {
      this.opts.signal?.removeEventListener("abort", onAbort);
      this.current?.destroy();
    }
  }

  private open(): Promise<IncomingMessage> {
    const query: Record<string, QueryValue> = {
      watch: "true",
      allowWatchBookmarks: "true",
      resourceVersion: this.rv,
      labelSelector: this.opts.labelSelector || undefined,
      fieldSelector: this.opts.fieldSelector || undefined,
    };
    return this.client.transport.stream({
      method: "GET",
      path: this.client.path(this.kind, this.opts.namespace),
      query,
      accept: this.opts.table ? TABLE_ACCEPT : "application/json",
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
    });
  }

  private advance(rv: string): void {
    if (this.rv === undefined || rvLess(this.rv, rv)) this.rv = rv;
  }

  /** Key, version and the event as delivered, for an object or a one-row Table. */
  private describe(object: any): { key: string; rv: string } {
    const meta = this.opts.table ? (object?.rows?.[0]?.object?.metadata ?? {}) : (object?.metadata ?? {});
    const rv = String(meta.resourceVersion ?? (this.opts.table ? (object?.metadata?.resourceVersion ?? "") : ""));
    return { key: `${meta.namespace ?? ""}/${meta.name ?? ""}`, rv };
  }

  /** Records an event; answers it unless it repeats (or predates) one already delivered. */
  private accept(type: WatchEventType, object: any): WatchEvent<T> | undefined {
    const { key, rv } = this.describe(object);
    const prev = this.seen.get(key);
    const tomb = this.tombstones.get(key);
    if (rv) this.advance(rv);
    const stale = (known: string | undefined) => known !== undefined && rv !== "" && !rvLess(known, rv);
    if (type === "DELETED") {
      if (stale(tomb) || (prev && rv && rvLess(rv, prev.rv))) return undefined;
      this.seen.delete(key);
      if (rv) this.tombstones.set(key, rv);
      return { type, object };
    }
    if (stale(prev?.rv) || stale(tomb)) return undefined;
    this.tombstones.delete(key);
    this.seen.set(key, { rv, object });
    return { type, object } as WatchEvent<T>;
  }

  /** Lists the current state and delivers how it differs from what was delivered before. */
  private async *relist(): AsyncGenerator<WatchEvent<T>> {
    const sel = {
      ...(this.opts.namespace !== undefined ? { namespace: this.opts.namespace } : {}),
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
    };
    let items: unknown[];
    let listRv: string;
    if (this.opts.table) {
      const t = await this.client.table(this.kind, sel);
      listRv = t.metadata.resourceVersion ?? "";
      items = t.rows.map((row) => ({ ...t, rows: [row] }));
    } else {
      const l = await this.client.listAll(this.kind, sel);
      listRv = l.metadata.resourceVersion;
      items = l.items;
    }
    const present = new Set<string>();
    const out: WatchEvent<T>[] = [];
    for (const item of items) {
      const { key, rv } = this.describe(item);
      present.add(key);
      const prev = this.seen.get(key);
      if (prev && prev.rv === rv) continue;
      this.seen.set(key, { rv, object: item });
      out.push({ type: prev ? "MODIFIED" : "ADDED", object: item as T });
    }
    for (const [key, prev] of [...this.seen]) {
      if (present.has(key)) continue;
      this.seen.delete(key);
      out.push({ type: "DELETED", object: prev.object as T });
    }
    this.tombstones.clear();
    // The list's version, not the newest object's: changes after the list are still to come.
    this.rv = listRv || this.rv;
    yield* out;
    this.opts.onSync?.();
  }
}

/** Connection failures and the server's transient answers are retried; anything else is final. */
function retryable(err: unknown): boolean {
  if (err instanceof ConnectionError) return err.problem !== "tls" && err.problem !== "unresolved";
  if (err instanceof ApiRequestError) return err.code === 429 || err.code === 500 || err.code === 503 || err.code === 504;
  return false;
}
