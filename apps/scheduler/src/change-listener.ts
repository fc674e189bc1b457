import { backoffDelay } from "@eiaas/api";
import { WATCH_CHANNEL } from "@eiaas/db";
import type { Logger } from "@eiaas/telemetry";
import pg from "pg";

/** Reconnects: 250 ms doubling to 5 s (full jitter below each). */
const RECONNECT = { initialMs: 250, maxMs: 5_000 };

/**
 * Wakes the scheduler on every committed change: a Postgres LISTEN on the watch channel every writer
 * notifies. Only a wake-up — the cycle reads what changed from the log — so a notification lost
 * while the connection was down costs nothing but the wait for the next periodic cycle. Reconnects
 * with a capped, jittered backoff.
 */
export class ChangeListener {
  private client?: pg.Client;
  private closed = false;
  /** Failed connections in a row: the index of the next reconnect's pause. */
  private failures = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly databaseUrl: string,
    private readonly onChange: () => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 3_000 });
    client.on("notification", () => this.onChange());
    client.on("error", () => this.reconnect(client));
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
      this.onChange();
    } catch (err) {
      this.logger.debug({ err }, "change listener: connect failed");
      this.reconnect(client);
    }
  }

  private reconnect(client: pg.Client): void {
    if (this.closed || this.timer || (this.client && this.client !== client)) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, backoffDelay(this.failures++, RECONNECT));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}
