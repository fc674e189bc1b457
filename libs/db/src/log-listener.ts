import { backoffDelay } from "@eiaas/api";
import pg from "pg";
import { WATCH_CHANNEL } from "./write-template.js";

/** Reconnects: 250 ms doubling to 5 s (full jitter below each). */
const RECONNECT = { initialMs: 250, maxMs: 5_000 };

export interface LogListenerOptions {
  databaseUrl: string;
  /** Every notification of a commit, and once after each (re)connect: changes may have been missed meanwhile. */
  onNotify: () => void;
  /** Hears of a lost connection or a failed connect (it reconnects by itself). */
  onError?: (err: Error) => void;
}

/**
 * A Postgres LISTEN on the watch channel every writer notifies. Only a wake-up — readers take what
 * changed from the log after their cursor — so a notification lost while the connection was down
 * costs nothing but a wait for the reader's polling fallback. Reconnects with a capped, jittered
 * backoff (thousands of processes must not reconnect in lockstep after a Postgres restart).
 */
export class LogListener {
  private client?: pg.Client;
  private closed = false;
  /** Failed connections in a row: the index of the next reconnect's pause. */
  private failures = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: LogListenerOptions) {}

  /** Whether the LISTEN connection is up. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.options.databaseUrl, connectionTimeoutMillis: 3_000 });
    client.on("notification", () => this.options.onNotify());
    client.on("error", (err) => {
      this.options.onError?.(err);
      this.reconnect(client);
    });
    client.on("end", () => this.reconnect(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${WATCH_CHANNEL}`);
      if (this.closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
      this.failures = 0;
      // Whatever happened while we were not listening.
      this.options.onNotify();
    } catch (err) {
      this.options.onError?.(err as Error);
      this.reconnect(client);
    }
  }

  private reconnect(client: pg.Client): void {
    if (this.closed || this.timer || (this.client && this.client !== client)) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.connect();
      },
      backoffDelay(this.failures++, RECONNECT),
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}
