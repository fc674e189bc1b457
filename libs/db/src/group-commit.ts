import type { KindInfo } from "@eiaas/api";
import { activeContext, contextFrom, runInContext, SpanKind, startSpanContext, type Context } from "@eiaas/telemetry";
import type { StoredObject } from "./codec.js";
import type { CountQuota, LoggedText } from "./write-sql.js";

/** One caller's write waiting in a group commit, and how to answer it. */
export interface PendingWrite {
  kind: KindInfo;
  object: StoredObject;
  /** The object's stored text, when the caller made it (checking its size). */
  logged?: LoggedText;
  /** A create's object-count quota, checked in its statement. */
  countQuota?: CountQuota;
  /** The caller's context (its trace), for the span of its write. */
  ctx?: Context;
  resolve(o: StoredObject): void;
  reject(err: unknown): void;
}

/**
 * Group commit: every write holds the counter row until it commits, so one commit per write caps
 * writers at one fsync apiece whatever their concurrency. A write that finds none in flight goes
 * out at once, alone, in its caller's trace; writes arriving meanwhile wait for it and then go out
 * in batches (outside any one caller's trace: `callerSpans` gives each caller its own span).
 */
export class GroupCommit<W extends PendingWrite> {
  private pending: W[] = [];
  private flushing = false;

  constructor(
    private readonly batches: {
      /** Splits what waits into the next batch and what waits on. */
      next(pending: W[]): { batch: W[]; rest: W[] };
      /** Writes a batch and answers each of its callers; never rejects. */
      write(batch: W[]): Promise<void>;
    },
  ) {}

  submit(w: W): void {
    if (this.flushing) {
      this.pending.push({ ...w, ctx: activeContext() });
      return;
    }
    this.flushing = true;
    void this.batches.write([w]).finally(() => this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const { batch, rest } = this.batches.next(this.pending);
        this.pending = rest;
        await runInContext(contextFrom(undefined), () => this.batches.write(batch));
      }
    } finally {
      this.flushing = false;
    }
  }
}

/** A client span per caller of a batched statement, in that caller's trace. */
export function callerSpans(batch: readonly PendingWrite[], operation: "INSERT" | "UPDATE"): Array<ReturnType<typeof startSpanContext>> {
  return batch.map((w) =>
    startSpanContext(`${operation} ${w.kind.table}`, {
      kind: SpanKind.CLIENT,
      requireParent: true,
      ...(w.ctx ? { parent: w.ctx } : {}),
      attributes: { "db.system.name": "postgresql", "db.operation.name": operation, "db.collection.name": w.kind.table, "db.operation.batch.size": batch.length },
    }),
  );
}
