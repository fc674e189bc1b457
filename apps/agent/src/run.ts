import type { JobContext, TaskJobPayload } from "@eiaas/queue";
import { taskKey, type TaskRunSpec } from "@eiaas/runtime";
import { taskName } from "./task-informer.js";

/** What the runtime is given of a job: which attempt of which Task, and the Task's spec as dispatched. */
export function runSpecOf(p: TaskJobPayload): TaskRunSpec {
  return { namespace: p.namespace, name: p.name, uid: p.uid, attempt: p.attempt, ...p.spec };
}

/**
 * One task attempt this agent runs: from taking its job until the final report is settled (a
 * pending report keeps the run, and so its queue slot and its place in the heartbeat's list).
 */
export class Run {
  /** `<namespace>/<name>/<attempt>`: the runtime's key. */
  readonly key: string;
  /** `<namespace>/<name>`: how heartbeats and the informer name the task. */
  readonly task: string;
  /** Stops the runtime's run of the task (its hooks' signal). */
  readonly controller = new AbortController();
  /** Aborted when nothing more is to be reported of this run (dropped, or the agent stops). */
  readonly reports = new AbortController();
  /** The Running report in flight; the final report supersedes it. */
  readonly runningReport = new AbortController();
  /**
   * The resourceVersion at which the API took this run's Running report: the task existed,
   * unfinished, as this run's then. An informer past it that no longer holds the task saw it deleted.
   */
  confirmedAt?: bigint;
  /** The Running report's status, which progress reports extend. */
  runningStatus?: Record<string, unknown>;
  /** The runtime's last progress (an aggregator's `training`): every later report carries it. */
  progress?: Record<string, unknown>;
  progressInFlight = false;
  /** The final phase being reported (the runtime ended). */
  finalPhase?: string;
  /** Why the agent stopped it on the control plane's word; then it reports nothing more. */
  droppedBecause?: string;

  constructor(
    readonly payload: TaskJobPayload,
    readonly ctx: JobContext,
  ) {
    this.key = taskKey(payload);
    this.task = taskName(payload);
  }

  get dropped(): boolean {
    return this.droppedBecause !== undefined;
  }

  /** Stops the run without reporting over the control plane's truth; its job is then finished. */
  drop(reason: string): void {
    if (this.dropped) return;
    this.droppedBecause = reason;
    this.reports.abort(reason);
    this.runningReport.abort(reason);
    this.controller.abort(reason);
  }
}
