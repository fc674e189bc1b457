import type { CountedResource, KindInfo } from "@eiaas/api";
import type { CountQuota, StoredObject } from "@eiaas/db";
import { invalid } from "../http/errors.js";
import type { ValidatedObject } from "./validate.js";

/** What the server admits for a tenant whose spec does not say (EIAAS_DEFAULT_*). */
export interface AdmissionDefaults {
  /**
   * Highest priority of a workload in a tenant without `spec.maxPriority`: as Kubernetes' priority
   * admission, a tenant may only preempt others when an admin allows it. Default 0.
   */
  maxPriority?: number;
  /**
   * Object-count caps per resource of a tenant whose `spec.quota` sets no `count/<resource>`; a
   * resource not named has no cap. Default none (the API server passes its configured caps).
   */
  countQuota?: Partial<Record<CountedResource, number>>;
}

const WORKLOADS: ReadonlySet<string> = new Set(["InferenceService", "TrainingJob"]);

/**
 * A workload's priority is at most its tenant's `spec.maxPriority`, else the default cap. A write
 * that keeps the priority it has is admitted (an object stored above a cap lowered since): the
 * scheduler caps what it uses anyway (`effectivePriority`), so the stored value gains nothing.
 */
export function admitPriority(kind: KindInfo, obj: ValidatedObject, tenant: StoredObject | undefined, defaults: AdmissionDefaults, current?: StoredObject): void {
  if (!WORKLOADS.has(kind.kind)) return;
  const priority = (obj.spec as { priority?: number }).priority ?? 0;
  const explicit = tenant?.spec?.maxPriority;
  const max = typeof explicit === "number" ? explicit : (defaults.maxPriority ?? 0);
  if (priority <= max) return;
  if (current && ((current.spec as { priority?: number } | undefined)?.priority ?? 0) === priority) return;
  const message =
    typeof explicit === "number" ? `must be no more than the tenant's maxPriority (${max})` : `must be no more than ${max}: the tenant sets no maxPriority, and only an admin may raise it`;
  throw invalid(kind.kind, obj.metadata.name, [{ field: "spec.priority", message }]);
}

/** The count quota a create of `kind` is checked against in its statement (none for uncounted kinds). */
export function countQuotaOf(kind: KindInfo, defaults: AdmissionDefaults): CountQuota {
  return { defaultLimit: defaults.countQuota?.[kind.plural as CountedResource] ?? null };
}
