import { backoffCeiling } from "@eiaas/api";

export interface BackoffOptions {
  /** Wait after a workload's first failure. @defaultValue 1 000 ms */
  initialMs?: number;
  /** Longest wait; each further failure doubles the last one up to this. @defaultValue 300 000 ms (5 min) */
  maxMs?: number;
}

interface Entry {
  failures: number;
  /** When the wait is over (ms since the epoch). */
  until: number;
  /** The workload's generation when it failed: a spec change ends the wait. */
  generation: number;
}

/**
 * kube-scheduler's backoff queue for workloads whose planning or bind failed with an error (not
 * "does not fit": that waits for room instead): each failure waits twice as long as the one before,
 * from `initialMs` up to `maxMs`, so one workload that keeps failing costs a bounded number of
 * attempts while every other workload is scheduled as usual. A new spec (generation) starts over;
 * any other outcome forgets the workload. Empty — nothing to look at — unless something failed.
 */
export class Backoff {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: BackoffOptions = {}) {}

  /** Records a failure of workload `uid` at `generation`; returns how long it waits before the next try. */
  fail(uid: string, generation: number, nowMs: number): number {
    const prev = this.entries.get(uid);
    const failures = prev && prev.generation === generation ? prev.failures + 1 : 1;
    const initial = this.options.initialMs ?? 1_000;
    // Not jittered: one scheduler plans in cycles, and workloads failing together are best retried
    // together, in one cycle (a fleet's retries, which jitter spreads, are the agents').
    const waitMs = backoffCeiling(failures - 1, { initialMs: initial, maxMs: Math.max(initial, this.options.maxMs ?? 300_000) });
    this.entries.set(uid, { failures, until: nowMs + waitMs, generation });
    return waitMs;
  }

  /** Whether `uid` is still waiting; a spec change (another generation) ends the wait and the count. */
  waiting(uid: string, generation: number, nowMs: number): boolean {
    const e = this.entries.get(uid);
    if (!e) return false;
    if (e.generation !== generation) {
      this.entries.delete(uid);
      return false;
    }
    return nowMs < e.until;
  }

  /** The workloads whose wait is over: to be tried again now, changed or not. */
  due(nowMs: number): string[] {
    const out: string[] = [];
    for (const [uid, e] of this.entries) if (e.until <= nowMs) out.push(uid);
    return out;
  }

  /** Forgets `uid`: it was placed, found unschedulable, needs no plan, or is gone. */
  forget(uid: string): void {
    this.entries.delete(uid);
  }

  /** Every workload waiting or due. */
  uids(): IterableIterator<string> {
    return this.entries.keys();
  }

  get size(): number {
    return this.entries.size;
  }
}
