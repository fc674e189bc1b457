// Deletion as kube-apiserver does it: preconditions, the propagation policy's finalizer, dependents
// in the same transaction, and deletecollection as one delete per object.
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER, type KindInfo } from "@eiaas/api";
import { collectsGarbage, formatTime, StoreError, type ListOptions, type ObjectStore, type StoredObject } from "@eiaas/db";
import type { PropagationPolicy } from "../http/delete-options.js";
import { ApiError } from "../http/errors.js";
import { expectedVersion, PATCH_RETRIES } from "./preconditions.js";

export interface DeleteRequest {
  dryRun?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: PropagationPolicy;
}

export interface DeleteCollectionRequest {
  dryRun?: boolean;
  propagationPolicy?: PropagationPolicy;
}

/** What deleting needs of the resource service. */
export interface DeletionDeps {
  /** Reads the object as the service does (404 when absent). */
  get(kind: KindInfo, namespace: string | undefined, name: string): Promise<StoredObject>;
  store: ObjectStore;
  onWrite?: (kind: KindInfo, obj: StoredObject, type: "create" | "update" | "delete") => void;
}

export async function deleteObject(deps: DeletionDeps, kind: KindInfo, namespace: string | undefined, name: string, options: DeleteRequest = {}): Promise<StoredObject> {
  const pre = options.preconditions ?? {};
  const expected = pre.resourceVersion ? expectedVersion(kind, name, pre.resourceVersion, "preconditions.resourceVersion") : undefined;
  // Foreground and Orphan leave the object marked with their finalizer for the propagation
  // controller, as kube-apiserver does — also on a kind nothing depends on (the controller lifts
  // it at its next pass; a client sees the marked object, and `kubectl delete --wait` waits).
  const policy = options.propagationPolicy ?? "Background";
  const finalizer = policy === "Background" || !collectsGarbage(kind) ? undefined : policy === "Foreground" ? FOREGROUND_FINALIZER : ORPHAN_FINALIZER;
  for (let attempt = 0; ; attempt++) {
    const read = await deps.get(kind, namespace, name);
    if (pre.uid && pre.uid !== read.metadata.uid) {
      throw new ApiError("Conflict", `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${read.metadata.uid}`);
    }
    // An object already marked keeps the deletion it is in (a second delete changes nothing).
    const current = finalizer && !read.metadata.deletionTimestamp ? withFinalizer(read, finalizer) : read;
    // A dry run answers what the delete would: an object with finalizers comes back marked.
    if (options.dryRun) return current.metadata.finalizers?.length && !current.metadata.deletionTimestamp ? marked(current) : current;
    try {
      // Dependents (a workload's Tasks) go in the same transaction: the store knows which.
      const { object, deleted } = await deps.store.delete(kind, current, { expectedResourceVersion: expected ?? read.metadata.resourceVersion });
      deps.onWrite?.(kind, object, deleted ? "delete" : "update");
      return object;
    } catch (err) {
      // Without a resourceVersion precondition a delete is unconditional (as in Kubernetes): a
      // write that landed since the read (a controller's status update) only means read again.
      if (expected === undefined && err instanceof StoreError && err.reason === "Conflict" && attempt < PATCH_RETRIES) continue;
      throw err;
    }
  }
}

/**
 * Deletes every object of a collection the selectors match (`deletecollection`), each as a
 * delete of its own would (finalizers, cascades); one already gone meanwhile is skipped.
 * `visibleTo` narrows what may be deleted to what the caller may see.
 */
export async function deleteCollection(
  deps: DeletionDeps,
  kind: KindInfo,
  options: ListOptions,
  visibleTo: (obj: StoredObject) => boolean,
  req: DeleteCollectionRequest = {},
): Promise<{ resourceVersion: string; items: StoredObject[] }> {
  const { limit: _limit, continue: _continue, ...all } = options;
  const { items, resourceVersion } = await deps.store.list(kind, all);
  const deleted: StoredObject[] = [];
  for (const obj of items) {
    if (!visibleTo(obj)) continue;
    try {
      deleted.push(
        await deleteObject(deps, kind, obj.metadata.namespace, obj.metadata.name, {
          dryRun: req.dryRun ?? false,
          preconditions: { uid: obj.metadata.uid },
          ...(req.propagationPolicy ? { propagationPolicy: req.propagationPolicy } : {}),
        }),
      );
    } catch (err) {
      // Deleted (or deleted and created anew) since the list: not this collection's any more.
      if (err instanceof ApiError && (err.reason === "NotFound" || err.reason === "Conflict")) continue;
      throw err;
    }
  }
  return { resourceVersion, items: deleted };
}

/** `obj` marked for deletion now (what a delete of an object with finalizers writes). */
function marked(obj: StoredObject): StoredObject {
  return { ...obj, metadata: { ...obj.metadata, deletionTimestamp: formatTime(new Date()) } };
}

/** `obj` with `finalizer` added (once). */
function withFinalizer(obj: StoredObject, finalizer: string): StoredObject {
  const finalizers = obj.metadata.finalizers ?? [];
  return finalizers.includes(finalizer) ? obj : { ...obj, metadata: { ...obj.metadata, finalizers: [...finalizers, finalizer] } };
}
