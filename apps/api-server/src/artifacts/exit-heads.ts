// The heads of early exits a Model no longer declares: a Model's spec is the list of its exits, so
// the head of an exit removed from `spec.exits` is deleted with its entry in
// `status.exitArtifacts`, and declaring the exit again starts with no head (never the old one).
import { kindInfo, type ExitArtifactStatus } from "@eiaas/api";
import { StoreError, type ArtifactStore, type ObjectStore, type StoredObject } from "@eiaas/db";

const MODEL = kindInfo("Model");
const CONFLICT_RETRIES = 10;

/** The `afterLayer`s of the exits the Model declares. */
export function declaredExits(model: StoredObject): Set<number> {
  const exits = (model.spec?.exits ?? []) as Array<{ afterLayer?: unknown }>;
  return new Set(exits.map((e) => e.afterLayer).filter((n): n is number => typeof n === "number"));
}

export interface ExitHeadJanitorOptions {
  store: ObjectStore;
  artifacts: ArtifactStore;
  /** Hears what failed (the next write of the Model, or the periodic sweep, tries again). */
  onError: (err: unknown) => void;
}

/**
 * Deletes the heads of exits removed from a Model: after each write of a Model (`changed`, from
 * the API server's write hook) and, for what a server that stopped midway left, across all Models
 * (`sweep`, with the artifact garbage collection). One pass per Model at a time; a change during
 * a pass runs another after it.
 */
export class ExitHeadJanitor {
  private readonly running = new Map<string, { again: boolean }>();

  constructor(private readonly o: ExitHeadJanitorOptions) {}

  /** A Model was written: its undeclared heads go, soon. */
  changed(model: StoredObject): void {
    const uid = model.metadata.uid;
    const run = this.running.get(uid);
    if (run) {
      run.again = true;
      return;
    }
    const state = { again: false };
    this.running.set(uid, state);
    void (async () => {
      try {
        do {
          state.again = false;
          await this.prune(model);
        } while (state.again);
      } catch (err) {
        this.o.onError(err);
      } finally {
        this.running.delete(uid);
      }
    })();
  }

  /** Every Model's undeclared heads; answers how many went. */
  async sweep(): Promise<number> {
    const gone = await this.o.artifacts.removeUndeclaredExits();
    const models = new Map(gone.map((g) => [g.modelUid, g]));
    for (const g of models.values()) await this.forgetInStatus(g.namespace, g.name, g.modelUid);
    return gone.length;
  }

  /** Deletes the Model's undeclared heads, then their entries in its status. */
  async prune(model: StoredObject): Promise<void> {
    const { namespace, name, uid } = model.metadata;
    await this.o.artifacts.removeUndeclaredExits(uid);
    await this.forgetInStatus(namespace!, name, uid);
  }

  /**
   * `status.exitArtifacts` without the entries `drop` names (by default those of exits the Model
   * does not declare), read again on a conflict. Answers the Model as stored afterwards (undefined
   * when it is gone).
   */
  async forgetInStatus(
    namespace: string,
    name: string,
    uid: string,
    drop: (e: ExitArtifactStatus, declared: Set<number>) => boolean = (e, declared) => !declared.has(e.afterLayer),
  ): Promise<StoredObject | undefined> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.o.store.get(MODEL, namespace, name);
      if (!current || current.metadata.uid !== uid) return undefined;
      const declared = declaredExits(current);
      const listed = (current.status?.exitArtifacts ?? []) as ExitArtifactStatus[];
      const kept = listed.filter((e) => !drop(e, declared));
      if (kept.length === listed.length) return current;
      const { exitArtifacts: _dropped, ...rest } = current.status ?? {};
      try {
        return await this.o.store.updateStatus(MODEL, current, kept.length ? { ...rest, exitArtifacts: kept } : rest);
      } catch (err) {
        if (!(err instanceof StoreError && err.reason === "Conflict") || attempt >= CONFLICT_RETRIES) throw err;
      }
    }
  }
}
