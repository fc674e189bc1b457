import { DEFAULT_LOST_DEADLINE_SECONDS } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";

/** What a TrainingJob that lost participants is told, and whether it has waited long enough to fail. */
export interface LostParticipants {
  /** Fewer than `participants.min` have been placeable for longer than the deadline: it fails. */
  failed: boolean;
  /** When it fails unless enough data nodes are placeable again (ms since the epoch). */
  deadlineMs: number;
  /** The Scheduled condition's message: the planner's reason and the deadline. */
  message: string;
}

/**
 * The deadline of a TrainingJob that cannot be re-planned for want of participants (as
 * Kubernetes' Deployment `progressDeadlineSeconds` is counted from its Progressing condition):
 * `spec.participants.lostDeadlineSeconds` after its Scheduled condition went False — kept in the
 * stored condition, so a restarted scheduler counts from the same moment. Until then the job waits
 * and is re-planned as soon as enough nodes are placeable (nodes returning, new ones, a lower
 * `min`); after it, it fails with ParticipantsLost.
 */
export function lostParticipants(job: StoredObject, plannerMessage: string, now: Date): LostParticipants {
  const seconds = job.spec?.participants?.lostDeadlineSeconds ?? DEFAULT_LOST_DEADLINE_SECONDS;
  const scheduled = (job.status?.conditions ?? []).find((c: { type: string }) => c.type === "Scheduled");
  const since = scheduled?.status === "False" ? Date.parse(scheduled.lastTransitionTime ?? "") : Number.NaN;
  const sinceMs = Number.isFinite(since) ? since : now.getTime();
  const deadlineMs = sinceMs + seconds * 1000;
  const failed = now.getTime() >= deadlineMs;
  const message = failed
    ? `${plannerMessage}; fewer than participants.min were placeable for ${seconds}s (participants.lostDeadlineSeconds)`
    : `${plannerMessage}; waiting for participants until ${new Date(deadlineMs).toISOString()} (participants.lostDeadlineSeconds: ${seconds})`;
  return { failed, deadlineMs, message };
}

/**
 * TrainingJobs waiting for lost participants, by uid: when each one's deadline is up, so the
 * controller looks at it then even if nothing about it changed. Empty unless a job lost
 * participants.
 */
export class LostDeadlines {
  private readonly deadlines = new Map<string, number>();

  set(uid: string, deadlineMs: number): void {
    this.deadlines.set(uid, deadlineMs);
  }

  /** The jobs whose deadline is up: to be planned (or failed) now. */
  due(nowMs: number): string[] {
    const out: string[] = [];
    for (const [uid, at] of this.deadlines) if (at <= nowMs) out.push(uid);
    return out;
  }

  /** Forgets `uid`: re-planned, failed, finished or gone. */
  forget(uid: string): void {
    this.deadlines.delete(uid);
  }

  uids(): IterableIterator<string> {
    return this.deadlines.keys();
  }

  get size(): number {
    return this.deadlines.size;
  }
}
