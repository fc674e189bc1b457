import type { StoredObject } from "@eiaas/db";
import { foldStatus } from "./fold-status.js";
import { lostParticipants } from "./participants-lost.js";
import type { Failure, Workload } from "./plan-workload.js";
import { phaseOf, setCondition, splitByRevision } from "./workload-status.js";

/** The status a workload that was not placed gets, and what else follows from it. */
export interface NotScheduled {
  status: Record<string, any>;
  /** The failure as told (a lost job's message carries its deadline). */
  failure: Failure;
  /** The workload failed for good (a TrainingJob past its participants' deadline). */
  terminal: boolean;
  /** A TrainingJob waiting for lost participants: when to look at it again (ms since the epoch). */
  lostDeadlineMs?: number;
}

/**
 * Scheduled=False with the failure's reason (pure). A running service keeps serving from its
 * current plan while a new one cannot be placed; otherwise the workload is Pending — a TrainingJob
 * that lost participants included, until its `participants.lostDeadlineSeconds` are up: then it
 * fails (phase Failed, Complete=False, ParticipantsLost). Phase and conditions are folded with
 * the tasks in the same status, so they agree (Ready with the phase).
 */
export function notScheduledStatus(w: Workload, failure: Failure, now: Date): NotScheduled {
  const ts = now.toISOString();
  let told = failure;
  let terminal = false;
  let lostDeadlineMs: number | undefined;
  if (failure.reason === "ParticipantsLost") {
    const lost = lostParticipants(w.obj, failure.message, now);
    told = { reason: failure.reason, message: lost.message };
    terminal = lost.failed;
    if (!terminal) lostDeadlineMs = lost.deadlineMs;
  }
  let conditions = setCondition(w.obj.status?.conditions, { type: "Scheduled", status: "False", reason: told.reason, message: told.message }, ts);
  if (terminal) conditions = setCondition(conditions, { type: "Complete", status: "False", reason: told.reason, message: told.message }, ts);
  const status: Record<string, any> = {
    ...(w.obj.status ?? {}),
    phase: terminal ? "Failed" : w.obj.status?.phase === "Running" && stillServing(w.obj, w.tasks) ? "Running" : "Pending",
    observedGeneration: w.obj.metadata.generation,
    conditions,
  };
  const folded = foldStatus(w.kind.kind as "InferenceService" | "TrainingJob", { ...w.obj, status }, w.tasks, ts).status;
  return { status: folded, failure: told, terminal, ...(lostDeadlineMs !== undefined ? { lostDeadlineMs } : {}) };
}

/** Whether the workload's current plan still runs in full (it keeps serving while a new spec waits). */
function stillServing(obj: StoredObject, tasks: readonly StoredObject[]): boolean {
  const { current } = splitByRevision(obj, tasks);
  return current.length > 0 && current.every((t) => phaseOf(t) === "Running");
}
