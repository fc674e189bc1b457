import type { CachedObject } from "./object-cache.js";
import type { Informer, RelistInfo } from "./informer.js";
import { compactLog, readBacklog, type WatchEventRecord } from "./watch-log.js";

export type { WatchEventRecord } from "./watch-log.js";

export interface ChangeFeedOptions {
  /** The process's informer: the feed hands on what it reads of the log. */
  informer: Informer<CachedObject>;
  /** Keep log entries this long for watch resumes; older resumes get 410 Gone. Default 15 min. */
  retentionMs?: number;
  /** How often to compact the log. Default 60 s. 0: never (another process compacts). */
  compactIntervalMs?: number;
  /** Hears of a failed compaction. */
  onError?: (err: Error) => void;
}

type Listener = (events: WatchEventRecord[]) => void;

export interface SubscribeOptions {
  /**
   * Called when the listener throws: it stays subscribed and deals with the batch it failed on.
   * Without it, a listener that throws is dropped and the informer's `onListenerError` hears of it.
   */
  onError?: (err: unknown) => void;
  /**
   * The log after the informer's cursor was compacted away before it was read: this listener
   * missed changes and is dropped (a watcher ends; its client lists again, as after Kubernetes'
   * 410 Gone). Default: dropped silently.
   */
  onGone?: () => void;
}

/**
 * The watch side of the informer: hands every change read from the log to in-process watchers (one
 * LISTEN connection and one read per change for all of them, the informer's), reads a resuming
 * watcher's backlog (410 Gone when it was compacted away) and compacts the log.
 */
export class ChangeFeed {
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: ChangeFeedOptions) {}

  /** Starts compacting the log. */
  start(): void {
    const every = this.options.compactIntervalMs ?? 60_000;
    if (every <= 0) return;
    this.timer = setInterval(() => void this.compact().catch((err) => this.options.onError?.(err)), every);
    this.timer.unref();
  }

  /** The newest resourceVersion the feed has delivered. */
  get resourceVersion(): bigint {
    return this.options.informer.resourceVersion;
  }

  /**
   * Hands every change to `listener`, read as soon as a commit is announced. Listeners are isolated
   * from each other: one that throws never keeps a batch from the others (see
   * {@link SubscribeOptions.onError}).
   */
  subscribe(listener: Listener, options: SubscribeOptions = {}): () => void {
    let unsubscribe = () => {};
    const onRelist = (info: RelistInfo) => {
      if (!info.gap) return;
      unsubscribe();
      options.onGone?.();
    };
    unsubscribe = this.options.informer.addHandlers({ onEvents: listener, onRelist }, { eager: true, ...(options.onError ? { onError: options.onError } : {}) });
    return unsubscribe;
  }

  /** Reads the log after `from` up to `upTo` (for a resuming watcher). */
  backlog(from: bigint, kind: string, upTo: bigint): Promise<WatchEventRecord[]> {
    return readBacklog(this.options.informer.pool, from, kind, upTo);
  }

  /** Resolves once every change committed before the call has been handed to listeners. */
  sync(): Promise<void> {
    return this.options.informer.sync();
  }

  /** Drops log entries older than the retention and records the oldest version still resumable. */
  compact(now = new Date()): Promise<void> {
    return compactLog(this.options.informer.pool, new Date(now.getTime() - (this.options.retentionMs ?? 15 * 60_000)));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
