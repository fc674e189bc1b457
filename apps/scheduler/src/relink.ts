import type { StoredObject } from "@eiaas/db";
import { planInference, predictClientLatency, type Snapshot, type SnapshotTask } from "@eiaas/scheduling";
import type { Logger } from "@eiaas/telemetry";
import { isTerminal } from "./workload-status.js";

/** A running InferenceService and its tasks, as the workload controller sees them. */
export interface RunningService {
  obj: StoredObject;
  tasks: readonly StoredObject[];
}

/**
 * Running services whose measured links changed enough to re-plan (design.md §5 Re-planning, Edgent's
 * dynamic mode): a client's current plan now misses the SLO, or a fresh plan — made as if the
 * service's own tasks were gone — is at least 20% faster for some client. The snapshot is left as
 * it was found.
 */
export function servicesToReplan(
  services: readonly RunningService[],
  models: ReadonlyMap<string, StoredObject>,
  snapshot: Snapshot,
  placedTask: (uid: string) => SnapshotTask | undefined,
  logger: Logger,
): Set<string> {
  const out = new Set<string>();
  for (const w of services) {
    const model = models.get(`${w.obj.metadata.namespace}/${w.obj.spec.model}`)?.spec;
    if (!model) continue;
    const slo: number | undefined = w.obj.spec.slo?.latencyMs;
    const clients: any[] = w.obj.status?.plan?.clients ?? [];
    const measured = snapshot.measurementsOf(w.obj.metadata.namespace!, w.obj.spec.model);
    const now = new Map(clients.map((c) => [c.client, predictClientLatency(snapshot, model, c, measured) ?? Infinity]));
    const m = snapshot.mark();
    for (const t of w.tasks) {
      const placed = isTerminal(t) ? undefined : placedTask(t.metadata.uid);
      if (placed) snapshot.release(placed);
    }
    const fresh = planInference(snapshot, { metadata: { name: w.obj.metadata.name, namespace: w.obj.metadata.namespace! }, spec: w.obj.spec }, model, { reserve: false });
    snapshot.rollback(m);
    if (fresh.status !== "Scheduled") continue;
    const changed = fresh.clients.some((f) => {
      const c = clients.find((x) => x.client === f.client);
      return !c || c.split !== f.split || c.tailNode !== f.tailNode || c.headNode !== f.headNode || c.variant !== f.variant || c.exitAfterLayer !== f.exitAfterLayer;
    });
    if (!changed) continue;
    const misses = slo !== undefined && [...now.values()].some((ms) => ms > slo * (1 + 1e-9));
    const faster = fresh.clients.some((f) => f.predicted.latencyMs <= 0.8 * (now.get(f.client) ?? Infinity));
    if (misses || faster) {
      logger.info({ service: w.obj.metadata.name, misses, faster }, "measured links changed: re-planning");
      out.add(w.obj.metadata.uid);
    }
  }
  return out;
}

/** What the planner reads of every node's link (spec, overridden by measured uplink/RTT). */
export function linkFingerprint(nodes: Iterable<StoredObject>): string {
  return [...nodes]
    .map((n) => `${n.metadata.name}:${n.status?.measured?.uplinkMbps ?? n.spec.network?.uplinkMbps ?? 0}/${n.status?.measured?.rttMs ?? n.spec.network?.rttMs ?? 0}/${n.status?.phase ?? ""}`)
    .join(",");
}
