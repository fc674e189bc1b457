import type { KindInfo } from "@eiaas/api";
import { bulkUpdateStatus, type StatusUpdate, type StoredObject } from "@eiaas/db";
import type { Logger } from "@eiaas/telemetry";
import type pg from "pg";

/**
 * Workload status writes of one cycle, written together: one conditional statement per kind
 * instead of one round trip (and one commit) per workload. A row whose version changed since it
 * was read (a user edit, a task report's owner write) is skipped, as a single write would be: the
 * next cycle sees the new version.
 */
export class StatusBatch {
  private readonly byKind = new Map<KindInfo, StatusUpdate[]>();

  add(kind: KindInfo, object: StoredObject, status: Record<string, unknown>): void {
    const list = this.byKind.get(kind) ?? [];
    list.push({ object, status });
    this.byKind.set(kind, list);
  }

  /** Writes everything added; returns how many rows were written. */
  async flush(pool: pg.Pool, logger: Logger): Promise<number> {
    let written = 0;
    for (const [kind, updates] of this.byKind) {
      const done = await bulkUpdateStatus(pool, kind, updates);
      written += done.length;
      if (done.length < updates.length) logger.debug({ kind: kind.kind, skipped: updates.length - done.length }, "status writes skipped: changed meanwhile");
    }
    this.byKind.clear();
    return written;
  }
}
