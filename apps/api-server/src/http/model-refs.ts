import { kindInfo } from "@eiaas/api";
import type { ObjectCache } from "@eiaas/db";
import type { ModelRefs } from "./authz.js";

const FINISHED = new Set(["Succeeded", "Failed"]);
const WORKLOADS = new Map(["InferenceService", "TrainingJob"].map((k) => [k, kindInfo(k as "InferenceService" | "TrainingJob")]));

/**
 * Which Models a node's tasks use, from the watch cache: an unfinished task bound to the node,
 * owned by a workload (InferenceService, TrainingJob) of that namespace whose `spec.model` names
 * the model. Costs a walk of that node's tasks (the cache indexes them by node) and a map lookup
 * per task — no Postgres read — so an agent cannot make its reads expensive. The cache is read
 * without waiting for it to catch up: a task bound a moment ago may not count yet.
 */
export function modelRefsFrom(cache: ObjectCache): ModelRefs {
  return {
    nodeUsesModel(nodeName, namespace, model) {
      for (const { object: task } of cache.tasksOn(nodeName)) {
        if (task.metadata.namespace !== namespace || FINISHED.has(task.status?.phase)) continue;
        const owner = task.metadata.ownerReferences?.find((o) => o.controller);
        const kind = owner && WORKLOADS.get(owner.kind);
        if (!owner || !kind || !cache.has(kind)) continue;
        if (cache.peek(kind, namespace, owner.name)?.object.spec?.model === model) return true;
      }
      return false;
    },
    nodeRunsWorkload(nodeName, namespace, ownerUid) {
      for (const { object: task } of cache.tasksOn(nodeName)) {
        if (task.metadata.namespace !== namespace || FINISHED.has(task.status?.phase)) continue;
        if (task.metadata.ownerReferences?.some((o) => o.controller && o.uid === ownerUid)) return true;
      }
      return false;
    },
  };
}
