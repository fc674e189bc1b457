import { TASK_REPORT_SUPERSEDED } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { ApiError } from "../http/errors.js";

// Task reports (agents' status writes) are ordered per task: what applies, what repeats, and the
// answer to one the task has moved past.

/** A final report equal in attempt and phase to the task's final state: a repeat, not news. */
export function repeatsFinalReport(current: { attempt?: number; phase?: string }, next: { attempt?: number; phase?: string }): boolean {
  return PHASE_RANK[current.phase ?? ""] === 4 && (next.attempt ?? current.attempt) === current.attempt && next.phase === current.phase;
}

/**
 * The answer to a task report the task has moved past: 409 Conflict, as Kubernetes answers an
 * update that lost to a newer state, with a cause (reason {@link TASK_REPORT_SUPERSEDED}) that
 * says why — so its sender can tell "not applied, this run is no longer the task" from the
 * optimistic-concurrency conflicts a client retries.
 */
export function supersededReport(current: StoredObject, report: { attempt?: number; phase?: string }): ApiError {
  const s = current.status ?? {};
  const attempt = s.attempt ?? 0;
  const name = current.metadata.name;
  const olderAttempt = (report.attempt ?? attempt) < attempt;
  const state = `${s.phase ?? "Pending"}${s.reason ? ` (${s.reason})` : ""}`;
  const message = olderAttempt
    ? `task ${current.metadata.namespace}/${name} is at attempt ${attempt}: the report of attempt ${report.attempt} is not applied`
    : `task ${current.metadata.namespace}/${name} attempt ${attempt} is already ${state}: the ${report.phase ?? "status"} report is not applied`;
  return new ApiError("Conflict", message, {
    name,
    kind: "tasks",
    causes: [{ field: olderAttempt ? "status.attempt" : "status.phase", reason: TASK_REPORT_SUPERSEDED, message }],
  });
}

const PHASE_RANK: Record<string, number> = { "": 0, Pending: 0, Scheduled: 1, Dispatched: 2, Running: 3, Succeeded: 4, Failed: 4 };

/**
 * Task reports are ordered per task by attempt, then phase (design.md §6: idempotent and ordered): a
 * report of an older attempt, of an earlier phase, or after the attempt finished changes nothing.
 */
export function taskReportApplies(current: { attempt?: number; phase?: string }, next: { attempt?: number; phase?: string }): boolean {
  const ca = current.attempt ?? 0;
  const na = next.attempt ?? ca;
  if (na !== ca) return na > ca;
  const cr = PHASE_RANK[current.phase ?? ""] ?? 0;
  const nr = PHASE_RANK[next.phase ?? current.phase ?? ""] ?? 0;
  if (cr === 4) return false;
  return nr >= cr;
}
