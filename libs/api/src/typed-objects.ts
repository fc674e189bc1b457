import type { EdgeNode } from "./resources/edgenode.js";
import type { InferenceService } from "./resources/inferenceservice.js";
import type { Model } from "./resources/model.js";
import type { ModelProfile } from "./resources/modelprofile.js";
import type { Task } from "./resources/task.js";
import type { Tenant } from "./resources/tenant.js";
import type { TrainingJob } from "./resources/trainingjob.js";

/** The object type of each kind that has a spec, by kind name. */
export interface ObjectOfKind {
  EdgeNode: EdgeNode;
  Tenant: Tenant;
  Model: Model;
  ModelProfile: ModelProfile;
  InferenceService: InferenceService;
  TrainingJob: TrainingJob;
  Task: Task;
}

/**
 * A type guard by `kind`, for arrays of objects whose spec and status are untyped (as the object
 * store returns them): `state.nodes.filter(isKind("EdgeNode"))`. The kind is what decides the shape,
 * because the API server validates every object against its kind's schema before it is written.
 */
export function isKind<K extends keyof ObjectOfKind>(kind: K) {
  return <T extends { kind: string }>(o: T): o is T & ObjectOfKind[K] => o.kind === kind;
}
