// The heads of early exits a Model can no longer use. A Model's spec is the list of its exits, so
// the head of an exit removed from `spec.exits` is deleted with its entry in
// `status.exitArtifacts`, and declaring the exit again starts with no head (never the old one).
// A head checked against one base graph is checked again when another replaces it
// (stale-heads.ts), and deleted if it no longer reads its cut tensor.
import { kindInfo, type ExitArtifactStatus } from "@eiaas/api";
import { EventRecorder, StoreError, type ArtifactStore, type ObjectStore, type StoredObject } from "@eiaas/db";
import { CutTensors } from "./exit-check.js";
import { staleHeads } from "./stale-heads.js";

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
  /** Where Warning Events about deleted heads go (default: the store, as `eiaas-apiserver`). */
  events?: EventRecorder;
}

/**
 * Deletes the heads of exits removed from a Model: after each write of a Model (`changed`, from
 * the API server's write hook) and, for what a server that stopped midway left, across all Models
 * (`sweep`, with the artifact garbage collection). One pass per Model at a time; a change during
 * a pass runs another after it. Also deletes the heads a new base graph made stale: after its
 * upload (`checkAgainstBase`) and in the sweep for heads not checked against the current one.
 */
export class ExitHeadJanitor {
  private readonly running = new Map<string, { again: boolean }>();
  /** The cut tensors of stored base graphs: what heads are checked against (uploads too). */
  readonly cutTensors: CutTensors;
  private readonly events: EventRecorder;

  constructor(private readonly o: ExitHeadJanitorOptions) {
    this.cutTensors = new CutTensors(o.artifacts);
    this.events = o.events ?? new EventRecorder(o.store, "eiaas-apiserver");
  }

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

  /** Every Model's undeclared heads, and the heads not checked against their Model's base graph; answers how many went. */
  async sweep(): Promise<number> {
    const gone = await this.o.artifacts.removeUndeclaredExits();
    const models = new Map(gone.map((g) => [g.modelUid, g]));
    for (const g of models.values()) await this.forgetInStatus(g.namespace, g.name, g.modelUid);
    let stale = 0;
    for (const m of await this.o.artifacts.modelsWithUncheckedHeads()) {
      // One Model's failure (its head unreadable for a moment) does not keep the others unchecked.
      try {
        const model = await this.o.store.get(MODEL, m.namespace, m.name);
        if (model?.metadata.uid !== m.uid) continue;
        stale += (await this.checkAgainstBase(model)).removed;
      } catch (err) {
        this.o.onError(err);
      }
    }
    return gone.length + stale;
  }

  /** Deletes the Model's undeclared heads, then their entries in its status. */
  async prune(model: StoredObject): Promise<void> {
    const { namespace, name, uid } = model.metadata;
    await this.o.artifacts.removeUndeclaredExits(uid);
    await this.forgetInStatus(namespace!, name, uid);
  }

  /**
   * Checks the Model's stored heads against its stored base graph (stale-heads.ts): deletes those
   * that do not read their cut tensor (that version only), with their status entries and a Warning
   * Event each, and marks the others `checkedAgainst` the graph. Answers the Model as stored
   * afterwards and how many heads went.
   */
  async checkAgainstBase(model: StoredObject): Promise<{ model: StoredObject; removed: number }> {
    const found = await staleHeads(this.o.artifacts, this.cutTensors, model, declaredExits(model));
    if (!found) return { model, removed: 0 };
    const { namespace, name, uid } = model.metadata;
    for (const s of found.stale) await this.o.artifacts.removeExit(uid, s.afterLayer, s.sha256);
    const isStale = (e: ExitArtifactStatus) => found.stale.some((s) => s.afterLayer === e.afterLayer && s.sha256 === e.sha256);
    const isFine = (e: ExitArtifactStatus) => found.fine.some((s) => s.afterLayer === e.afterLayer && s.sha256 === e.sha256);
    const updated = await this.editInStatus(namespace!, name, uid, (entries, declared) =>
      entries.filter((e) => declared.has(e.afterLayer) && !isStale(e)).map((e) => (isFine(e) ? { ...e, checkedAgainst: found.base } : e)),
    );
    for (const s of found.stale) {
      await this.events
        .record({
          involved: { kind: "Model", name, namespace: namespace!, uid },
          type: "Warning",
          reason: "ExitHeadRemoved",
          message: `the head of the early exit after layer ${s.afterLayer} does not read the new base graph, so it was deleted: ${s.reason}; upload one that does (eictl model import --exit-head ${s.afterLayer}=HEAD.onnx)`,
        })
        .catch(this.o.onError);
    }
    return { model: updated ?? model, removed: found.stale.length };
  }

  /** `status.exitArtifacts` without the exits the Model does not declare. */
  private forgetInStatus(namespace: string, name: string, uid: string): Promise<StoredObject | undefined> {
    return this.editInStatus(namespace, name, uid, (entries, declared) => entries.filter((e) => declared.has(e.afterLayer)));
  }

  /**
   * `status.exitArtifacts` as `edit` makes it from the current entries (read again on a conflict;
   * not written when unchanged). Answers the Model as stored afterwards, undefined when it is gone.
   */
  private async editInStatus(namespace: string, name: string, uid: string, edit: (entries: ExitArtifactStatus[], declared: Set<number>) => ExitArtifactStatus[]): Promise<StoredObject | undefined> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.o.store.get(MODEL, namespace, name);
      if (!current || current.metadata.uid !== uid) return undefined;
      const listed = (current.status?.exitArtifacts ?? []) as ExitArtifactStatus[];
      const kept = edit(listed, declaredExits(current));
      if (JSON.stringify(kept) === JSON.stringify(listed)) return current;
      const { exitArtifacts: _dropped, ...rest } = current.status ?? {};
      try {
        return await this.o.store.updateStatus(MODEL, current, kept.length ? { ...rest, exitArtifacts: kept } : rest);
      } catch (err) {
        if (!(err instanceof StoreError && err.reason === "Conflict") || attempt >= CONFLICT_RETRIES) throw err;
      }
    }
  }
}
