import { StoreError } from "./errors.js";

/**
 * Runs one read at a time and shares it among callers: `poll()` joins the running read (and asks
 * for one more after it), `sync()` resolves after a read that *started after the call* — the
 * pattern of Kubernetes' consistent reads from its watch cache: a burst of consistent reads costs
 * one query per round trip, not one per caller. A failed read rejects the `sync()` callers that
 * waited for it and ends the loop (the next poll or sync starts again).
 */
export class SharedReads {
  private fetching?: Promise<void>;
  private again = false;
  private closed = false;
  /** Reads started / the highest read a `sync()` caller waits for. */
  private readsStarted = 0;
  private syncWanted = 0;
  private waiters: Array<{ need: number; resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(
    private readonly read: () => Promise<void>,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Reads now, or once more after the running read. */
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
          await this.read();
          this.readDone(read);
        } catch (err) {
          this.onError(err as Error);
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

  /** Resolves after a read that started after the call; rejects when that read fails. */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new StoreError("Unavailable", "informer closed"));
    const need = this.readsStarted + 1;
    if (need > this.syncWanted) this.syncWanted = need;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ need, resolve, reject }));
    if (this.fetching) this.again = true;
    else void this.poll();
    return done;
  }

  private readDone(read: number): void {
    if (this.waiters.length === 0) return;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (w.need <= read) w.resolve();
      else this.waiters.push(w);
    }
  }

  private readFailed(read: number, err: Error): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (w.need <= read) w.reject(err);
      else this.waiters.push(w);
    }
    // Waiters for a later read that will not start now (the loop stops on errors) fail too.
    if (this.syncWanted > read) {
      for (const w of this.waiters) w.reject(err);
      this.waiters = [];
      this.syncWanted = read;
    }
  }

  /** Fails the waiting callers and lets the running read finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters) w.reject(new StoreError("Unavailable", "informer closed"));
    this.waiters = [];
    await this.fetching;
  }
}
