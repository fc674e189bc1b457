import type { KindInfo } from "@eiaas/api";
import { activeContext, contextFrom, recordError, runInContext, SpanKind, startSpanContext, type Context } from "@eiaas/telemetry";
import type { StoredObject } from "./codec.js";
import { StoreError, isUniqueViolation } from "./errors.js";
import type { WriteOp } from "./write-sql.js";

interface PendingCreate {
  kind: KindInfo;
  object: StoredObject;
  /** The caller's context (its trace), for the span of its write. */
  ctx?: Context;
  resolve(o: StoredObject): void;
  reject(err: unknown): void;
}

/** Most creates in one group-committed batch. */
const CREATE_BATCH_MAX = 200;

/**
 * Group commit for creates, as for status writes: every write holds the counter row until its
 * commit, so one commit each caps creates at one fsync apiece whatever the concurrency. A create
 * arriving while another is in flight waits for it and then goes out with every other waiting one
 * as one transaction (a multi-row INSERT per kind). Each caller still gets its own answer: when the
 * batch fails on a name that already exists, its members are written one by one.
 */
export class CreateBatcher {
  private pending: PendingCreate[] = [];
  private flushing = false;

  constructor(
    private readonly deps: {
      writeOne(op: WriteOp): Promise<StoredObject>;
      applyBatch(ops: WriteOp[]): Promise<StoredObject[]>;
    },
  ) {}

  create(kind: KindInfo, object: StoredObject): Promise<StoredObject> {
    return new Promise<StoredObject>((resolve, reject) => {
      const w: PendingCreate = { kind, object, resolve, reject };
      if (this.flushing) {
        this.pending.push({ ...w, ctx: activeContext() });
        return;
      }
      // Uncontended: out at once, in the caller's own trace.
      this.flushing = true;
      void this.writeEach([w]).finally(() => this.drain());
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, CREATE_BATCH_MAX);
        // Outside any one caller's trace: each caller's span is made for it.
        await runInContext(contextFrom(undefined), () => (batch.length === 1 ? this.writeEach(batch) : this.writeBatch(batch)));
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeBatch(batch: PendingCreate[]): Promise<void> {
    const spans = batch.map((w) =>
      startSpanContext(`INSERT ${w.kind.table}`, {
        kind: SpanKind.CLIENT,
        requireParent: true,
        ...(w.ctx ? { parent: w.ctx } : {}),
        attributes: { "db.system.name": "postgresql", "db.operation.name": "INSERT", "db.collection.name": w.kind.table, "db.operation.batch.size": batch.length },
      }),
    );
    try {
      const written = await this.deps.applyBatch(batch.map((w) => ({ type: "create" as const, kind: w.kind, object: w.object })));
      batch.forEach((w, i) => w.resolve(written[i]!));
    } catch (err) {
      if ((err instanceof StoreError && err.reason === "AlreadyExists") || isUniqueViolation(err)) {
        // Some name is taken (perhaps twice in this batch): each on its own, each its own answer.
        await this.writeEach(batch);
        return;
      }
      for (const [i, w] of batch.entries()) {
        if (spans[i]) recordError(spans[i]!.span, err);
        w.reject(err);
      }
    } finally {
      for (const s of spans) s?.span.end();
    }
  }

  private async writeEach(batch: PendingCreate[]): Promise<void> {
    for (const w of batch) {
      await runInContext(w.ctx ?? activeContext(), async () => {
        try {
          w.resolve(await this.deps.writeOne({ type: "create", kind: w.kind, object: w.object }));
        } catch (err) {
          w.reject(isUniqueViolation(err) ? new StoreError("AlreadyExists", `${w.kind.plural} "${w.object.metadata.name}" already exists`) : err);
        }
      });
    }
  }
}
