import type { KindInfo } from "@eiaas/api";
import { activeContext, contextFrom, recordError, runInContext, SpanKind, startSpanContext, type Context } from "@eiaas/telemetry";
import type { StoredObject } from "./codec.js";
import type { WriteOp } from "./write-sql.js";

interface PendingStatusWrite {
  kind: KindInfo;
  /** The object with its new status; metadata.resourceVersion is the expected version. */
  object: StoredObject;
  /** The caller's context (its trace), for the span of its write. */
  ctx?: Context;
  resolve(o: StoredObject): void;
  reject(err: unknown): void;
}

/** Status writes per group commit at most (one statement, one watch-log insert). */
const STATUS_BATCH_MAX = 500;

/**
 * Group commit for status writes. Every write takes the counter row until it commits, so one
 * commit each would cap the whole control plane at one fsync per write (≈ 550/s measured here,
 * whatever the concurrency) — agents reporting hundreds of task phases a second need them
 * batched. An uncontended write goes out at once, in its caller's trace; writes arriving while
 * another is in flight wait for it and then go out together, one statement per kind. Each caller
 * gets its own result: the written object, or Conflict/NotFound as a single write would answer.
 */
export class StatusBatcher {
  private pending: PendingStatusWrite[] = [];
  private flushing = false;

  constructor(
    private readonly deps: {
      /** One conditional write committed alone. */
      writeOne(op: WriteOp): Promise<StoredObject>;
      /** Many objects' status in one statement, each conditional; returns those written. */
      writeMany(kind: KindInfo, objects: StoredObject[]): Promise<StoredObject[]>;
      /** Why a conditional write missed (NotFound or Conflict), from a fresh read. */
      explainMiss(op: WriteOp): Promise<unknown>;
    },
  ) {}

  /** Writes `object`'s status if it still has the version in its metadata.resourceVersion. */
  write(kind: KindInfo, object: StoredObject): Promise<StoredObject> {
    return new Promise<StoredObject>((resolve, reject) => {
      const w: PendingStatusWrite = { kind, object, resolve, reject };
      if (this.flushing) {
        this.pending.push({ ...w, ctx: activeContext() });
        return;
      }
      this.flushing = true;
      void this.writeBatch([w]).finally(() => this.drain());
    });
  }

  /** Writes what queued up meanwhile, in batches, until nothing is left. */
  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        // At most one write per object in a batch: a second one must see the first's outcome.
        const batch: PendingStatusWrite[] = [];
        const later: PendingStatusWrite[] = [];
        const uids = new Set<string>();
        for (const w of this.pending) {
          if (uids.has(w.object.metadata.uid) || batch.length >= STATUS_BATCH_MAX) later.push(w);
          else {
            uids.add(w.object.metadata.uid);
            batch.push(w);
          }
        }
        this.pending = later;
        // Outside any one caller's trace: each caller's span is made for it (writeBatch).
        await runInContext(contextFrom(undefined), () => this.writeBatch(batch));
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeBatch(batch: PendingStatusWrite[]): Promise<void> {
    if (batch.length === 1) {
      const w = batch[0]!;
      await runInContext(w.ctx ?? activeContext(), () => this.deps.writeOne({ type: "update", kind: w.kind, object: w.object, expectedResourceVersion: w.object.metadata.resourceVersion })).then(w.resolve, w.reject);
      return;
    }
    const byKind = new Map<KindInfo, PendingStatusWrite[]>();
    for (const w of batch) byKind.set(w.kind, [...(byKind.get(w.kind) ?? []), w]);
    for (const [kind, writes] of byKind) {
      // One statement for many requests; each caller's trace gets its own span of it.
      const spans = writes.map((w) =>
        startSpanContext(`UPDATE ${kind.table}`, {
          kind: SpanKind.CLIENT,
          requireParent: true,
          ...(w.ctx ? { parent: w.ctx } : {}),
          attributes: { "db.system.name": "postgresql", "db.operation.name": "UPDATE", "db.collection.name": kind.table, "db.operation.batch.size": writes.length },
        }),
      );
      try {
        const written = await this.deps.writeMany(kind, writes.map((w) => w.object));
        const byUid = new Map(written.map((o) => [o.metadata.uid, o]));
        for (const [i, w] of writes.entries()) {
          const o = byUid.get(w.object.metadata.uid);
          if (o) w.resolve(o);
          else {
            const err = await this.deps.explainMiss({ type: "update", kind, object: w.object }).catch((e: unknown) => e);
            if (spans[i]) recordError(spans[i]!.span, err);
            w.reject(err);
          }
        }
      } catch (err) {
        for (const [i, w] of writes.entries()) {
          if (spans[i]) recordError(spans[i]!.span, err);
          w.reject(err);
        }
      } finally {
        for (const sp of spans) sp?.span.end();
      }
    }
  }
}
