import { kindInfo } from "@eiaas/api";
import { bulkUpdateStatus, type EventRecorder, type StoredObject } from "@eiaas/db";
import { effectivePriority, selectPreemptionVictims, type Snapshot } from "@eiaas/scheduling";
import type { Logger } from "@eiaas/telemetry";
import type pg from "pg";

const TASK = kindInfo("Task");

/**
 * Preemption (design.md §5 multi-tenancy): when a workload with priority fits nowhere for lack of
 * resources, evict the fewest, lowest-priority, newest tasks of ONE node so its server task fits —
 * never for a tenant over quota (selectPreemptionVictims refuses), never with more priority than
 * the workload's tenant allows (a workload stored above its tenant's cap preempts with the cap,
 * 0 by default: not at all). The victims fail with reason
 * Preempted; their workloads requeue and the preemptor is planned again next cycle.
 *
 * Neither side learns who the other is: the victims' messages and Events (in their namespaces)
 * say a higher-priority workload took the node, the preemptor's Event only how many tasks went.
 * Which workload preempted which tasks is logged, for admins.
 */
export async function preemptFor(
  deps: { pool: pg.Pool; events: EventRecorder; logger: Logger },
  snapshot: Snapshot,
  workload: StoredObject,
  model: StoredObject | undefined,
  tasks: ReadonlyMap<string, StoredObject>,
  now: Date,
): Promise<number> {
  const priority = effectivePriority(snapshot, { namespace: workload.metadata.namespace!, priority: workload.spec.priority ?? 0 });
  if (priority <= 0 || !model) return 0;
  const r = workload.spec.resources ?? { cpu: 0, memoryMiB: 0, gpu: 0 };
  const modelMiB = (model.spec.layers ?? []).reduce((s: number, l: { memoryMiB?: number }) => s + (l.memoryMiB ?? 0), 0);
  const result = selectPreemptionVictims(snapshot, {
    name: `${workload.kind}/${workload.metadata.name}`,
    tenant: workload.metadata.namespace!,
    priority,
    role: workload.kind === "TrainingJob" ? "aggregator" : "serve",
    resources: { cpu: r.cpu ?? 0, memoryMiB: (r.memoryMiB ?? 0) + modelMiB, gpu: r.gpu ?? 0 },
    tiers: ["edge", "cloud"],
    nodeSelector: workload.spec.nodeSelector ?? {},
    tolerations: workload.spec.tolerations ?? [],
  });
  if (result.status !== "Victims") return 0;
  const victims = result.victims.map((v) => (v.uid ? tasks.get(v.uid) : undefined)).filter((t): t is StoredObject => t !== undefined);
  if (!victims.length) return 0;
  const ts = now.toISOString();
  const why = "a workload of higher priority needed the node";
  const written = await bulkUpdateStatus(
    deps.pool,
    TASK,
    victims.map((t) => ({ object: t, status: { ...t.status, phase: "Failed", reason: "Preempted", message: `preempted on node ${result.node}: ${why}`, finishTime: ts } })),
  );
  deps.logger.info(
    { preemptor: `${workload.kind} ${workload.metadata.namespace}/${workload.metadata.name}`, priority, node: result.node, victims: written.map((t) => `${t.metadata.namespace}/${t.metadata.name}`) },
    "preempted tasks",
  );
  for (const t of written) {
    const o = t.metadata.ownerReferences?.find((x) => x.controller);
    if (o)
      await deps.events.record(
        {
          involved: { kind: o.kind, name: o.name, namespace: t.metadata.namespace!, uid: o.uid },
          type: "Warning",
          reason: "Preempted",
          message: `task ${t.metadata.name} on ${result.node} preempted: ${why}`,
        },
        now,
      );
  }
  await deps.events.record(
    {
      involved: { kind: workload.kind, name: workload.metadata.name, namespace: workload.metadata.namespace!, uid: workload.metadata.uid },
      type: "Normal",
      reason: "Preempting",
      message: `evicted ${written.length} lower-priority task(s) on ${result.node}`,
    },
    now,
  );
  return written.length;
}
