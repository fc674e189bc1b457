import type { Logger } from "@eiaas/telemetry";

export interface OutageLogOptions {
  logger: Logger;
  /** A cheap read of the database (`SELECT 1`): resolves once it answers again. */
  probe: () => Promise<unknown>;
  /** How often the database is probed while it is away. Default 1 000 ms. */
  probeMs?: number;
  now?: () => number;
}

/**
 * Logs a database outage as two lines — when it starts (the first request answered 503 for it)
 * and when it ends (with how long it lasted and how many requests were answered 503) — instead of
 * one error line per request: a 20 s Postgres outage under load wrote 512 of those. Each refused
 * request is still logged, at debug. While the outage lasts the database is probed every
 * `probeMs` (only then: nothing runs on the request path), so its end is logged even when no
 * request comes to find out.
 */
export class OutageLog {
  private since?: number;
  private refused = 0;
  private timer?: NodeJS.Timeout;
  private probing = false;
  private stopped = false;

  constructor(private readonly options: OutageLogOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Whether an outage is under way (a request was refused and the database has not answered since). */
  get active(): boolean {
    return this.since !== undefined;
  }

  /** A request was answered 503 because the database is unavailable (`err` says how). */
  refuse(err: unknown): void {
    this.begin(err);
    this.refused++;
    this.options.logger.debug({ err: firstLine(err) }, "request answered 503: database unavailable");
  }

  /**
   * Background work (the change feed's reads, its LISTEN connection) failed because the database
   * is unavailable: the same outage, logged at its start and end, each failure at debug.
   */
  note(err: unknown): void {
    this.begin(err);
    this.options.logger.debug({ err: firstLine(err) }, "background database work failed: database unavailable");
  }

  private begin(err: unknown): void {
    const reason = firstLine(err);
    if (this.since === undefined) {
      this.since = this.now();
      this.refused = 0;
      this.options.logger.warn({ err: reason }, "database unavailable: answering 503 with Retry-After until it is back");
      if (!this.stopped) {
        this.timer = setInterval(() => void this.check(), this.options.probeMs ?? 1_000);
        this.timer.unref();
      }
    }
  }

  /** Probes the database once; logs the outage's end when it answers. */
  async check(): Promise<void> {
    if (this.since === undefined || this.probing) return;
    this.probing = true;
    try {
      await this.options.probe();
    } catch {
      return;
    } finally {
      this.probing = false;
    }
    this.end();
  }

  private end(): void {
    if (this.since === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    const durationMs = this.now() - this.since;
    this.since = undefined;
    this.options.logger.warn({ durationMs, refusedRequests: this.refused }, "database available again");
  }

  /** Stops probing (the server is closing). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function firstLine(err: unknown): string {
  const message = (err as { message?: unknown } | undefined)?.message;
  // Prisma's messages start with a blank line and the invocation; the cause is on the last line.
  const lines = String(typeof message === "string" ? message : err)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.at(-1) ?? "").slice(0, 300);
}
