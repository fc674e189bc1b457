import { kindInfo } from "@eiaas/api";
import { controllerOf, findGarbage, type ClusterCache, type ObjectStore, type StoredObject, type WriteOp } from "@eiaas/db";
import { taskJobId, type QueueBackend } from "@eiaas/queue";
import type { Logger } from "@eiaas/telemetry";
import type pg from "pg";
import { garbageCollected } from "./metrics.js";

const TASK = kindInfo("Task");

/** Most deletes in one transaction. */
const BATCH = 500;

export interface GarbageCollectorOptions {
  /**
   * How often every cached task is checked, not only those of owners the cache saw go (the
   * level-triggered safety net: an owner the cache knows under another kind, a check skipped
   * because its task changed meanwhile). The first pass is a full one. @defaultValue 60 000 ms
   */
  fullPassMs?: number;
}

/**
 * Kubernetes' garbage collector for Tasks (background propagation): a Task whose owners — by
 * ownerReference uid — no longer exist is deleted; an owner that exists with that uid keeps it,
 * marked for deletion or not. A workload's delete normally takes its tasks in the same
 * transaction; this collects what outlived one anyway (left by an older version, deleted by hand
 * around the owner's delete, a workload removed by the namespace cleanup before its tasks).
 *
 * Leader-only, run after each cycle from the scheduler's cluster cache: the owners the cache saw
 * go (or never saw) are found without a scan of the tasks (`danglingOwners`), and every task is
 * looked at once per full pass. The cache only proposes; the decision is a fresh read of the
 * owners' tables (`findGarbage`), so an owner the cache does not show yet keeps its tasks. The
 * deletes go through the store, each conditional on the version just read and missing-ok: a task
 * deleted or changed meanwhile is left for the next pass.
 */
export class GarbageCollector {
  private lastFull = Number.NEGATIVE_INFINITY;
  /** Owners whose tasks were checked and kept (their owner exists): not asked again before the next full pass. */
  private readonly kept = new Set<string>();

  constructor(
    private readonly deps: { pool: pg.Pool; store: ObjectStore; logger: Logger; queue?: QueueBackend },
    private readonly options: GarbageCollectorOptions = {},
  ) {}

  /** One pass over what `cache` shows (brought up to date by the cycle); how many tasks it deleted. */
  async collect(cache: ClusterCache, nowMs: number): Promise<number> {
    const full = nowMs - this.lastFull >= (this.options.fullPassMs ?? 60_000);
    let candidates: StoredObject[];
    if (full) {
      this.lastFull = nowMs;
      this.kept.clear();
      candidates = [...cache.tasks.values()].filter((t) => (t.metadata.ownerReferences?.length ?? 0) > 0 && !t.metadata.ownerReferences!.some((ref) => cachedOwnerExists(cache, t, ref)));
    } else {
      candidates = [];
      for (const owner of cache.danglingOwners()) if (!this.kept.has(owner)) candidates.push(...cache.tasksOf(owner));
    }
    if (candidates.length === 0) return 0;
    const garbage = await findGarbage(this.deps.pool, TASK, candidates);
    const collectable = new Set(garbage.map((t) => t.metadata.uid));
    for (const t of candidates) {
      const owner = controllerOf(t)?.uid;
      if (owner && !collectable.has(t.metadata.uid)) this.kept.add(owner);
    }
    let deleted = 0;
    for (let i = 0; i < garbage.length; i += BATCH) {
      const ops: WriteOp[] = garbage.slice(i, i + BATCH).map((object) => ({ type: "delete", kind: TASK, object, expectedResourceVersion: object.metadata.resourceVersion, missingOk: true }));
      const gone = await this.deps.store.applyBatch(ops);
      deleted += gone.length;
      this.report(gone);
    }
    garbageCollected.inc(deleted);
    return deleted;
  }

  /** Logs what was collected, per owner, and drops the queued jobs nobody should start. */
  private report(gone: readonly StoredObject[]): void {
    const byOwner = new Map<string, StoredObject[]>();
    for (const t of gone) {
      const o = controllerOf(t) ?? t.metadata.ownerReferences?.[0];
      const key = `${t.metadata.namespace}/${o?.kind}/${o?.name}/${o?.uid}`;
      byOwner.set(key, [...(byOwner.get(key) ?? []), t]);
    }
    for (const tasks of byOwner.values()) {
      const o = controllerOf(tasks[0]!) ?? tasks[0]!.metadata.ownerReferences?.[0];
      this.deps.logger.info(
        { namespace: tasks[0]!.metadata.namespace, owner: { kind: o?.kind, name: o?.name, uid: o?.uid }, tasks: tasks.map((t) => t.metadata.name) },
        "garbage collected: tasks whose owner no longer exists",
      );
    }
    const queue = this.deps.queue;
    if (!queue) return;
    for (const t of gone) {
      if (!t.spec?.nodeName || t.status?.phase !== "Dispatched") continue;
      // Only a waiting job is removed; a running one ends when its agent sees the task gone.
      void queue.removeTaskJob(t.spec.nodeName, taskJobId(t.metadata.uid, t.status?.attempt ?? 1)).catch((err) => {
        this.deps.logger.debug({ err, task: t.metadata.name }, "could not remove the job of a collected task");
      });
    }
  }
}

type OwnerRef = NonNullable<StoredObject["metadata"]["ownerReferences"]>[number];

/** Whether the cache shows `ref`'s owner with that uid (kinds it does not hold: no, ask Postgres). */
function cachedOwnerExists(cache: ClusterCache, dependent: StoredObject, ref: OwnerRef): boolean {
  switch (ref.kind) {
    case "InferenceService":
    case "TrainingJob":
      return cache.workloads.get(ref.uid)?.kind === ref.kind;
    case "Model":
      return cache.models.get(`${dependent.metadata.namespace}/${ref.name}`)?.metadata.uid === ref.uid;
    case "Tenant":
      return cache.tenants.get(ref.name)?.metadata.uid === ref.uid;
    case "EdgeNode":
      return cache.nodes.get(ref.name)?.metadata.uid === ref.uid;
    default:
      return false;
  }
}
