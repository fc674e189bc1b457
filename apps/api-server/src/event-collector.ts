import { kindInfo } from "@eiaas/api";
import { formatTime, rowToObject, type ObjectRow, type ObjectStore, type WriteOp } from "@eiaas/db";
import type { Logger } from "@eiaas/telemetry";
import type pg from "pg";

const EVENT = kindInfo("Event");
const BATCH = 500;

export interface EventCollectorOptions {
  store: ObjectStore;
  pool: pg.Pool;
  logger: Logger;
  /** How long an Event lives after it last happened. Default 1 h (kube-apiserver's --event-ttl). */
  ttlMs?: number;
  /** How often to look. Default 60 s. */
  intervalMs?: number;
  now?: () => Date;
}

/**
 * Deletes Events that last happened longer ago than the TTL, as kube-apiserver expires them: the
 * table (and every API server's watch cache) would otherwise grow for ever. Deletes go through the
 * store in batches, so watchers see each Event go. Level-triggered: every pass re-reads.
 */
export class EventCollector {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(private readonly options: EventCollectorOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.kick(), this.options.intervalMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  kick(): Promise<number> {
    this.running ??= this.pass()
      .catch((err) => {
        this.options.logger.warn({ err }, "event expiry pass failed");
        return 0;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Deletes every expired Event; returns how many. */
  async pass(): Promise<number> {
    const cutoff = new Date((this.options.now ?? (() => new Date()))().getTime() - (this.options.ttlMs ?? 3_600_000));
    let deleted = 0;
    for (;;) {
      // lastTimestamp is RFC 3339 at second precision (formatTime): it sorts as text.
      const r = await this.options.pool.query<ObjectRow>(
        `SELECT * FROM events
         WHERE COALESCE(spec->>'lastTimestamp', spec->>'firstTimestamp') < $1
            OR (spec->>'lastTimestamp' IS NULL AND spec->>'firstTimestamp' IS NULL AND creation_timestamp < $2)
         LIMIT ${BATCH}`,
        [formatTime(cutoff), cutoff],
      );
      if (r.rows.length === 0) break;
      const ops: WriteOp[] = r.rows.map((row) => ({ type: "delete", kind: EVENT, object: rowToObject(EVENT, row), missingOk: true }));
      await this.options.store.applyBatch(ops);
      deleted += ops.length;
      if (r.rows.length < BATCH) break;
    }
    if (deleted) this.options.logger.debug({ deleted }, "expired events deleted");
    return deleted;
  }
}
