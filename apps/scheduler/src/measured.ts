import { MEASUREMENT_MAX_AGE_MS, sameOption, type ClientPlan, type MeasuredClientLatency } from "@eiaas/api";
import type { ClusterCache, StoredObject } from "@eiaas/db";
import { indexMeasurements, type ModelMeasurements } from "@eiaas/scheduling";

/** How long measured figures count unless configured (what the API keeps, too: MEASUREMENT_MAX_AGE_MS). */
export const DEFAULT_MEASUREMENT_MAX_AGE_MS = MEASUREMENT_MAX_AGE_MS;

/** The clients' end-to-end figures of a service that are recent enough to plan with. */
export function recentClientLatency(obj: StoredObject, nowMs: number, maxAgeMs: number): MeasuredClientLatency[] {
  const all: MeasuredClientLatency[] = obj.status?.measured ?? [];
  return all.filter((m) => {
    const at = Date.parse(m.observedTime);
    return Number.isFinite(at) && nowMs - at <= maxAgeMs;
  });
}

/** The figure a client measured with the option its current plan uses, if any (recent enough). */
export function measuredFor(plan: ClientPlan, recent: readonly MeasuredClientLatency[]): MeasuredClientLatency | undefined {
  return recent.find((m) => sameOption(m, plan));
}

/**
 * The measured segment timings the planner reads (`Snapshot.setMeasurements`), from the cache's
 * ModelProfiles: recent figures of each model's current generation. O(figures); rebuilt when a
 * profile or model changes, and periodically so figures age out.
 */
export class MeasurementIndex {
  private index: ReadonlyMap<string, ModelMeasurements> = new Map();
  private builtAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly maxAgeMs: number = DEFAULT_MEASUREMENT_MAX_AGE_MS) {}

  /** The index as of `nowMs`: rebuilt when `changed`, or when the last build is a minute old (ageing). */
  current(cache: Pick<ClusterCache, "profiles" | "models">, changed: boolean, nowMs: number): ReadonlyMap<string, ModelMeasurements> {
    if (!changed && nowMs - this.builtAt < Math.min(60_000, this.maxAgeMs)) return this.index;
    this.builtAt = nowMs;
    this.index =
      cache.profiles.size === 0
        ? new Map()
        : indexMeasurements(cache.profiles.values() as Iterable<any>, {
            nowMs,
            maxAgeMs: this.maxAgeMs,
            modelGeneration: (ns, model) => cache.models.get(`${ns}/${model}`)?.metadata.generation,
          });
    return this.index;
  }
}
