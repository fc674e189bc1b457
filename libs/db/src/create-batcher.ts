import type { KindInfo } from "@eiaas/api";
import { activeContext, recordError, runInContext } from "@eiaas/telemetry";
import type { StoredObject } from "./codec.js";
import { StoreError, isUniqueViolation } from "./errors.js";
import { callerSpans, GroupCommit, type PendingWrite } from "./group-commit.js";
import type { CountQuota, LoggedText, WriteOp } from "./write-sql.js";

/** Most creates in one group-committed batch. */
const CREATE_BATCH_MAX = 200;

/**
 * Group commit for creates (`GroupCommit`): a create arriving while another is in flight goes
 * out with every other waiting one as one transaction (a multi-row INSERT per kind). Each caller
 * still gets its own answer: when the batch fails on a name that already exists or on a count
 * quota, its members are written one by one.
 */
export class CreateBatcher {
  private readonly commits = new GroupCommit<PendingWrite>({
    next: (pending) => ({ batch: pending.slice(0, CREATE_BATCH_MAX), rest: pending.slice(CREATE_BATCH_MAX) }),
    write: (batch) => (batch.length === 1 ? this.writeEach(batch) : this.writeBatch(batch)),
  });

  constructor(
    private readonly deps: {
      writeOne(op: WriteOp): Promise<StoredObject>;
      applyBatch(ops: WriteOp[]): Promise<StoredObject[]>;
    },
  ) {}

  create(kind: KindInfo, object: StoredObject, extra: { logged?: LoggedText; countQuota?: CountQuota } = {}): Promise<StoredObject> {
    return new Promise<StoredObject>((resolve, reject) => this.commits.submit({ kind, object, ...extra, resolve, reject }));
  }

  private async writeBatch(batch: PendingWrite[]): Promise<void> {
    const spans = callerSpans(batch, "INSERT");
    try {
      const written = await this.deps.applyBatch(batch.map(createOp));
      batch.forEach((w, i) => w.resolve(written[i]!));
    } catch (err) {
      if ((err instanceof StoreError && (err.reason === "AlreadyExists" || err.reason === "Forbidden")) || isUniqueViolation(err)) {
        // Some name is taken (perhaps twice in this batch), or some tenant would go over its count
        // quota: each on its own, each its own answer (those within the quota are written).
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

  private async writeEach(batch: PendingWrite[]): Promise<void> {
    for (const w of batch) {
      await runInContext(w.ctx ?? activeContext(), async () => {
        try {
          w.resolve(await this.deps.writeOne(createOp(w)));
        } catch (err) {
          w.reject(isUniqueViolation(err) ? new StoreError("AlreadyExists", `${w.kind.plural} "${w.object.metadata.name}" already exists`) : err);
        }
      });
    }
  }
}

function createOp(w: PendingWrite): WriteOp {
  return { type: "create", kind: w.kind, object: w.object, ...(w.logged ? { logged: w.logged } : {}), ...(w.countQuota ? { countQuota: w.countQuota } : {}) };
}
