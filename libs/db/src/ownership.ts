import { kindInfo, type KindInfo } from "@eiaas/api";
import type { StoredObject } from "./codec.js";

type OwnerReference = NonNullable<StoredObject["metadata"]["ownerReferences"]>[number];

const TASK = kindInfo("Task");
const MODEL_PROFILE = kindInfo("ModelProfile");

/**
 * The kinds whose objects name an object of `kind` as their owner (ownerReferences) and go with
 * it: deleted in the owner's own delete transaction (cascade), and by the scheduler's garbage
 * collector when they outlive it anyway. Workloads own their Tasks; Models and EdgeNodes their
 * ModelProfiles (measured timings of a model deleted mean nothing for one created again under its
 * name, and timings of a node deleted describe no node: a node registered again under the name is
 * measured afresh). A ModelProfile names both, the Model as its controller: the delete of either
 * takes it.
 */
export function dependentKinds(kind: KindInfo): readonly KindInfo[] {
  if (kind.kind === "Model" || kind.kind === "EdgeNode") return [MODEL_PROFILE];
  return kind.kind === "InferenceService" || kind.kind === "TrainingJob" ? [TASK] : [];
}

/**
 * Whether a delete of `kind` honours `propagationPolicy` Foreground and Orphan with their
 * finalizers (Kubernetes' garbage collector's part in a delete): every kind, even one nothing
 * depends on — the owner is marked and the collector lifts the finalizer at its next pass, as
 * kube-apiserver does — except Events, which are deleted at once under any policy (core Events'
 * garbage-collection policy is `Unsupported`).
 */
export function collectsGarbage(kind: KindInfo): boolean {
  return kind.kind !== "Event";
}

/** The owner reference marked `controller` (the one object that manages this one), if any. */
export function controllerOf(obj: StoredObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((o) => o.controller);
}
