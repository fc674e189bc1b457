import type { StoredObject } from "@eiaas/db";
import { planInference, type Snapshot, type SnapshotTask } from "@eiaas/scheduling";
import type { Logger } from "@eiaas/telemetry";
import { measuredFor, recentClientLatency } from "./measured.js";
import type { RunningService } from "./relink.js";
import { isTerminal } from "./workload-status.js";

/** A client's measured latency further than this fraction from its prediction calls for a re-plan. Default 0.2. */
export const DEFAULT_DRIFT_FRACTION = 0.2;

export interface DriftOptions {
  nowMs: number;
  /** Figures older than this are ignored. */
  maxAgeMs: number;
  /** See DEFAULT_DRIFT_FRACTION. */
  fraction?: number;
}

/**
 * Running services to re-plan because a client measured its plan more than `fraction` off the
 * prediction (issue 20 part 7; docs/dataplane.md, "Measurements fed back into planning"). Such a service is planned again as relink.ts
 * does for links — as if its own tasks were gone, with every option a client measured ranked at
 * what it measured — and re-planned only when that plan differs. Hysteresis, so it does not flap:
 * figures inside the band are no news; the API writes a figure only when it moved by 5%; the
 * option left behind keeps its measured figure, so it is not chosen again on its estimate alone;
 * a plan that comes out the same changes nothing. The snapshot is left as it was found.
 */
export function servicesOffPrediction(
  services: readonly RunningService[],
  models: ReadonlyMap<string, StoredObject>,
  snapshot: Snapshot,
  placedTask: (uid: string) => SnapshotTask | undefined,
  logger: Logger,
  o: DriftOptions,
): Set<string> {
  const out = new Set<string>();
  const fraction = o.fraction ?? DEFAULT_DRIFT_FRACTION;
  for (const w of services) {
    const recent = recentClientLatency(w.obj, o.nowMs, o.maxAgeMs);
    if (recent.length === 0) continue;
    const clients: any[] = w.obj.status?.plan?.clients ?? [];
    const off = clients.flatMap((c) => {
      const m = measuredFor(c, recent);
      const predicted = c.predicted?.latencyMs;
      if (!m || !(predicted > 0) || Math.abs(m.latencyMs - predicted) <= fraction * predicted) return [];
      return [{ client: c.client as string, predictedMs: predicted as number, measuredMs: m.latencyMs }];
    });
    if (off.length === 0) continue;
    const model = models.get(`${w.obj.metadata.namespace}/${w.obj.spec.model}`)?.spec;
    if (!model) continue;
    const m = snapshot.mark();
    for (const t of w.tasks) {
      const placed = isTerminal(t) ? undefined : placedTask(t.metadata.uid);
      if (placed) snapshot.release(placed);
    }
    const fresh = planInference(snapshot, { metadata: { name: w.obj.metadata.name, namespace: w.obj.metadata.namespace! }, spec: w.obj.spec }, model, { reserve: false, measuredLatency: recent });
    snapshot.rollback(m);
    if (fresh.status !== "Scheduled") continue;
    const changed = fresh.clients.some((f) => {
      const c = clients.find((x) => x.client === f.client);
      return (
        !c || c.split !== f.split || c.tailNode !== f.tailNode || c.headNode !== f.headNode || c.variant !== f.variant || c.exitAfterLayer !== f.exitAfterLayer || c.architecture !== f.architecture
      );
    });
    logger[changed ? "info" : "debug"](
      { service: `${w.obj.metadata.namespace}/${w.obj.metadata.name}`, off, replan: changed },
      changed ? "measured latency off its prediction: re-planning" : "measured latency off its prediction; no better plan",
    );
    if (changed) out.add(w.obj.metadata.uid);
  }
  return out;
}
