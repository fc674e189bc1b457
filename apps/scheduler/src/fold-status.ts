import type { StoredObject } from "@eiaas/db";
import { combineGossip } from "./gossip-status.js";
import { isTerminal, phaseOf, setCondition, splitByRevision } from "./workload-status.js";

export interface FoldedStatus {
  /** The workload's status with its tasks' phases folded in. */
  status: Record<string, any>;
  /** Tasks of earlier plan revisions to stop now that their replacements run. */
  superseded: StoredObject[];
}

/**
 * Task phases → workload phase, conditions and endpoints (pure). An InferenceService is Running and
 * Ready when every task of its plan revision runs; during a roll-over the previous revision keeps
 * it Ready while all of that runs, and is superseded once the new one does. Its phase is Running
 * exactly when it is Ready. A TrainingJob succeeds
 * when every task of its revision has; earlier revisions stop once the new one started.
 */
export function foldStatus(kind: "InferenceService" | "TrainingJob", obj: StoredObject, tasks: readonly StoredObject[], ts: string): FoldedStatus {
  const { current, old } = splitByRevision(obj, tasks);
  const status: Record<string, any> = { ...(obj.status ?? {}) };
  if (!status.planRevision) return { status, superseded: [] };
  const running = current.filter((t) => phaseOf(t) === "Running").length;
  const succeeded = current.filter((t) => phaseOf(t) === "Succeeded").length;
  if (kind === "InferenceService") {
    const allCurrent = current.length > 0 && running === current.length;
    const ready = allCurrent || (status.phase === "Running" && old.length > 0 && old.every((t) => phaseOf(t) === "Running"));
    if (allCurrent) {
      status.phase = "Running";
      status.endpoints = current
        .filter((t) => t.spec.role === "serve" || t.spec.role === "tail")
        .map((t) => ({ node: t.spec.nodeName, ...(t.status?.endpoint ? { address: t.status.endpoint } : {}), role: t.spec.role, task: t.metadata.name }));
    } else if (status.phase !== "Pending") {
      // Phase and Ready agree (as a Deployment's Available condition and its replicas do): a
      // service that lost one of its running tasks is not Running while it is not Ready, even if
      // others of them still serve. It is Scheduled until its replacements run.
      status.phase = ready ? "Running" : "Scheduled";
    }
    const serving = servingSummary(current);
    if (serving) status.serving = serving;
    status.conditions = setCondition(
      status.conditions,
      {
        type: "Ready",
        status: ready ? "True" : "False",
        reason: ready ? "TasksRunning" : "TasksNotRunning",
        message: `${running}/${current.length} tasks of plan revision ${status.planRevision} running`,
      },
      ts,
    );
    return { status, superseded: allCurrent ? old : [] };
  }
  const training = latestTraining(tasks) ?? (obj.spec?.mode === "gossip" ? combineGossip(tasks) : undefined);
  if (training) {
    status.training = training;
    status.round = training.round;
  }
  if (current.length > 0 && succeeded === current.length) {
    status.phase = "Succeeded";
    if (!training) status.round = obj.spec.rounds;
    status.conditions = setCondition(status.conditions, { type: "Complete", status: "True", reason: "Completed", message: `${succeeded} tasks succeeded` }, ts);
  } else if (running > 0 && status.phase !== "Failed") status.phase = "Running";
  const started = current.some((t) => phaseOf(t) === "Running" || phaseOf(t) === "Succeeded");
  return { status, superseded: old.length && started ? old.filter((t) => !isTerminal(t) || phaseOf(t) !== "Succeeded") : [] };
}

/**
 * The entries' request counts (`status.serving` of the plan revision's tasks) summed, with the
 * shares the cache and the input filter answered. Undefined while no task reported any.
 */
function servingSummary(tasks: readonly StoredObject[]): Record<string, number> | undefined {
  const sum = { requests: 0, cacheHits: 0, cacheMisses: 0, filterSkips: 0 };
  let reported = false;
  for (const t of tasks) {
    const c = t.status?.serving;
    if (!c || typeof c !== "object") continue;
    reported = true;
    for (const k of Object.keys(sum) as Array<keyof typeof sum>) if (Number.isSafeInteger(c[k]) && c[k] >= 0) sum[k] += c[k];
  }
  if (!reported) return undefined;
  const rate = (n: number) => (sum.requests > 0 ? Math.min(1, Math.round((n / sum.requests) * 1e4) / 1e4) : 0);
  return { ...sum, cacheHitRate: rate(sum.cacheHits), filterSkipRate: rate(sum.filterSkips) };
}

/**
 * The KPIs of real training: the aggregator's `status.training` furthest on (a re-planned job's
 * new aggregator resumes from the old one's checkpoint, so the furthest is the newest).
 */
function latestTraining(tasks: readonly StoredObject[]): Record<string, any> | undefined {
  let best: Record<string, any> | undefined;
  for (const t of tasks) {
    const tr = t.spec?.role === "aggregator" ? t.status?.training : undefined;
    if (tr && typeof tr.round === "number" && (!best || tr.round >= best.round)) best = tr;
  }
  return best;
}
