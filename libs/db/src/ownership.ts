import { kindInfo, type KindInfo } from "@eiaas/api";
import type { StoredObject } from "./codec.js";

type OwnerReference = NonNullable<StoredObject["metadata"]["ownerReferences"]>[number];

const TASK = kindInfo("Task");

/**
 * The kinds whose objects name an object of `kind` as their owner (ownerReferences) and go with
 * it: deleted in the owner's own delete transaction (cascade), and by the scheduler's garbage
 * collector when they outlive it anyway. Workloads own their Tasks; nothing else owns anything.
 */
export function dependentKinds(kind: KindInfo): readonly KindInfo[] {
  return kind.kind === "InferenceService" || kind.kind === "TrainingJob" ? [TASK] : [];
}

/** The owner reference marked `controller` (the one object that manages this one), if any. */
export function controllerOf(obj: StoredObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((o) => o.controller);
}
