import { FOREGROUND_FINALIZER, KINDS, ORPHAN_FINALIZER, type KindInfo } from "@eiaas/api";
import { collectsGarbage, dependentKinds, isUnavailableError, StoreError, type ObjectStore, type StoredObject } from "@eiaas/db";
import type { Logger } from "@eiaas/telemetry";

/** The kinds a Foreground or Orphan delete marks: every kind, whether anything depends on it or not. */
const COLLECTED_KINDS: readonly KindInfo[] = KINDS.filter(collectsGarbage);
/** The kinds objects can depend on: a delete of a dependent may let one in foreground deletion go. */
const OWNER_KINDS: readonly KindInfo[] = KINDS.filter((k) => dependentKinds(k).length > 0);
const FINALIZERS = [FOREGROUND_FINALIZER, ORPHAN_FINALIZER];

export interface PropagationControllerDeps {
  store: ObjectStore;
  logger: Logger;
  /** Period of the level-triggered pass (writes kick one sooner). Default 2 000 ms. */
  intervalMs?: number;
}

/**
 * The part of Kubernetes' garbage collector that finishes Foreground and Orphan deletes (the
 * Background part — dependents whose owner is gone — is the owner's delete transaction, and the
 * scheduler's garbage collector for what outlived one). An owner marked for deletion with:
 * - `foregroundDeletion`: its dependents are deleted; once none that blocks its deletion
 *   (`blockOwnerDeletion: true`) is left, the finalizer is lifted and the owner goes (with the rest).
 * - `orphan`: its reference is removed from its dependents, which stay; then the finalizer is lifted.
 *
 * Every API process runs one: each step is a write conditional on what it just read, so two
 * controllers (or a user's write) racing on an owner cost a conflict, which the next pass redoes
 * from a fresh read. Level-triggered: a crash half-way only delays the rest.
 */
export class PropagationController {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  /** Owners in foreground deletion at the last pass: a delete of a dependent may let one go. */
  private waiting = 0;

  constructor(private readonly deps: PropagationControllerDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.kick(), this.deps.intervalMs ?? 2_000);
    this.timer.unref();
  }

  private stopped = false;

  /** Stops the passes; resolves when the running one (if any) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** What a committed write means for this controller: a pass now if it may have work. */
  noteWrite(kind: KindInfo, obj: StoredObject, type: "create" | "update" | "delete"): void {
    if (type === "update" && obj.metadata.deletionTimestamp && obj.metadata.finalizers?.some((f) => FINALIZERS.includes(f))) void this.kick();
    else if (type === "delete" && this.waiting > 0 && OWNER_KINDS.some((k) => dependentKinds(k).includes(kind))) void this.kick();
  }

  /** Runs a pass now, or right after the running one (which may have read before the news). */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        // The database away is logged once by the API's outage log (start and end), not by each pass.
        await this.pass().catch((err) =>
          isUnavailableError(err) ? this.deps.logger.debug({ err }, "deletion propagation pass: database unavailable") : this.deps.logger.warn({ err }, "deletion propagation pass failed"),
        );
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async pass(): Promise<void> {
    let waiting = 0;
    for (const kind of COLLECTED_KINDS) {
      for (const owner of await this.deps.store.markedWith(kind, FINALIZERS)) {
        try {
          if (owner.metadata.finalizers?.includes(ORPHAN_FINALIZER)) await this.orphan(kind, owner);
          else if (!(await this.foreground(kind, owner))) waiting++;
        } catch (err) {
          // Changed or gone since the read: the next pass starts again from what is there.
          if (err instanceof StoreError && (err.reason === "Conflict" || err.reason === "NotFound")) {
            this.again = true;
            continue;
          }
          throw err;
        }
      }
    }
    this.waiting = waiting;
  }

  /** Removes `owner` from its dependents' owner references, then lifts its `orphan` finalizer. */
  private async orphan(kind: KindInfo, owner: StoredObject): Promise<void> {
    for (const { kind: depKind, object: dep } of await this.deps.store.dependentsOf(kind, owner)) {
      const ownerReferences = (dep.metadata.ownerReferences ?? []).filter((r) => r.uid !== owner.metadata.uid);
      await this.deps.store.update(depKind, dep, { ...dep, metadata: { ...dep.metadata, ownerReferences } });
    }
    await this.lift(kind, owner, ORPHAN_FINALIZER);
    this.deps.logger.info({ kind: kind.kind, namespace: owner.metadata.namespace, name: owner.metadata.name }, "dependents orphaned; owner deleted");
  }

  /**
   * Deletes `owner`'s dependents; lifts its `foregroundDeletion` finalizer once none that blocks
   * it is left (a dependent with finalizers of its own stays, marked, until they are lifted).
   * Whether it was lifted.
   */
  private async foreground(kind: KindInfo, owner: StoredObject): Promise<boolean> {
    let blocking = 0;
    for (const { kind: depKind, object: dep } of await this.deps.store.dependentsOf(kind, owner)) {
      const ref = dep.metadata.ownerReferences?.find((r) => r.uid === owner.metadata.uid);
      if (!dep.metadata.deletionTimestamp) {
        const { deleted } = await this.deps.store.delete(depKind, dep);
        if (deleted) continue;
      }
      if (ref?.blockOwnerDeletion) blocking++;
    }
    if (blocking > 0) return false;
    await this.lift(kind, owner, FOREGROUND_FINALIZER);
    return true;
  }

  /** Removes `finalizer` from `owner` (marked for deletion): the last one lifted deletes it. */
  private async lift(kind: KindInfo, owner: StoredObject, finalizer: string): Promise<void> {
    const finalizers = (owner.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    await this.deps.store.update(kind, owner, { ...owner, metadata: { ...owner.metadata, finalizers } });
  }
}
