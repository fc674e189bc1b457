import type { KindInfo } from "@eiaas/api";
import { activeContext, recordError, runInContext } from "@eiaas/telemetry";
import type { StoredObject } from "./codec.js";
import { callerSpans, GroupCommit, type PendingWrite } from "./group-commit.js";
import type { LoggedText, WriteOp } from "./write-sql.js";

/** Status writes per group commit at most (one statement, one watch-log insert). */
const STATUS_BATCH_MAX = 500;

/**
 * Group commit for status writes (`GroupCommit`): without it the whole control plane would be
 * capped at one fsync per status write (≈ 550/s measured here, whatever the concurrency), and
 * agents report hundreds of task phases a second. Writes arriving while another is in flight go
 * out together, one statement per kind, at most one per object (a second write of an object must
 * see the first's outcome). Each caller gets its own result: the written object, or
 * Conflict/NotFound as a single write would answer.
 */
export class StatusBatcher {
  private readonly commits = new GroupCommit<PendingWrite>({ next: nextBatch, write: (batch) => this.writeBatch(batch) });

  constructor(
    private readonly deps: {
      /** One conditional write committed alone. */
      writeOne(op: WriteOp): Promise<StoredObject>;
      /** Many objects' status in one statement, each conditional; returns those written. */
      writeMany(kind: KindInfo, writes: Array<{ object: StoredObject; logged?: LoggedText }>): Promise<StoredObject[]>;
      /** Why a conditional write missed (NotFound or Conflict), from a fresh read. */
      explainMiss(op: WriteOp): Promise<unknown>;
    },
  ) {}

  /**
   * Writes `object`'s status if it still has the version in its metadata.resourceVersion.
   * `logged`: the object's stored text, when the caller made it.
   */
  write(kind: KindInfo, object: StoredObject, logged?: LoggedText): Promise<StoredObject> {
    return new Promise<StoredObject>((resolve, reject) => this.commits.submit({ kind, object, ...(logged ? { logged } : {}), resolve, reject }));
  }

  private async writeBatch(batch: PendingWrite[]): Promise<void> {
    if (batch.length === 1) {
      const w = batch[0]!;
      await runInContext(w.ctx ?? activeContext(), () =>
        this.deps.writeOne({ type: "update", kind: w.kind, object: w.object, expectedResourceVersion: w.object.metadata.resourceVersion, ...(w.logged ? { logged: w.logged } : {}) }),
      ).then(w.resolve, w.reject);
      return;
    }
    const byKind = new Map<KindInfo, PendingWrite[]>();
    for (const w of batch) byKind.set(w.kind, [...(byKind.get(w.kind) ?? []), w]);
    for (const [kind, writes] of byKind) {
      const spans = callerSpans(writes, "UPDATE");
      try {
        const written = await this.deps.writeMany(kind, writes);
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

/** The next batch: in arrival order, at most one write per object and STATUS_BATCH_MAX in all. */
function nextBatch(pending: PendingWrite[]): { batch: PendingWrite[]; rest: PendingWrite[] } {
  const batch: PendingWrite[] = [];
  const rest: PendingWrite[] = [];
  const uids = new Set<string>();
  for (const w of pending) {
    if (uids.has(w.object.metadata.uid) || batch.length >= STATUS_BATCH_MAX) rest.push(w);
    else {
      uids.add(w.object.metadata.uid);
      batch.push(w);
    }
  }
  return { batch, rest };
}
