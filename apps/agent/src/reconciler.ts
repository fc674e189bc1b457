import type { TaskJobPayload } from "@eiaas/queue";
import type { Logger } from "@eiaas/telemetry";
import type { Run } from "./run.js";
import { taskName, type TaskInformer, type TaskView } from "./task-informer.js";

const FINISHED = new Set(["Succeeded", "Failed"]);

/**
 * Why a run of `p` is not what the control plane wants of task `t` (same name), or undefined when
 * it is: another task under the same name, a later attempt, or this attempt already finished.
 */
export function mismatch(t: TaskView, p: Pick<TaskJobPayload, "uid" | "attempt">): string | undefined {
  if (t.uid !== p.uid) return "the task was replaced by another of the same name";
  if (t.attempt > p.attempt) return `attempt ${p.attempt} was superseded by attempt ${t.attempt}`;
  if (t.attempt === p.attempt && t.phase && FINISHED.has(t.phase)) return `the task is already ${t.phase}${t.reason ? ` (${t.reason})` : ""}`;
  return undefined;
}

export interface ReconcilerOptions {
  informer: TaskInformer;
  /** The runs of this agent. */
  runs: () => Iterable<Run>;
  /** Stops a run the control plane does not want (drops it: no report, its job finished). */
  drop: (run: Run, reason: string) => void;
  logger: Logger;
  nodeName: string;
  /** Full comparison period, besides every change and every (re)list. @defaultValue 30000 */
  resyncMs?: number;
}

/**
 * Converges what the agent runs on what the control plane wants of its node — level-triggered, as
 * kubelet syncs pods: the desired state is the node's unfinished tasks at their current attempt
 * (the {@link TaskInformer}'s cache). Any run outside it is stopped and its job finished without a
 * report (the control plane's truth stands): the task was deleted, finished (failed by the control
 * plane: NodeLost, Evicted, Preempted, AgentRestarted), replaced, or moved to a later attempt. It
 * compares on every change of a task, on every (re)list, and every `resyncMs`.
 *
 * A run whose task the cache does not hold is left alone unless the cache is known to be past the
 * moment the API confirmed the task as this run's ({@link Run.confirmedAt}): a job can arrive before
 * the watch delivers its task's creation, and such a run's Running report decides (404: dropped).
 */
export class Reconciler {
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: ReconcilerOptions) {}

  start(): void {
    this.timer = setInterval(() => this.reconcile(), this.o.resyncMs ?? 30_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Why a job of `p` should not be run at all, when the cache already says so. */
  refuse(p: TaskJobPayload): string | undefined {
    const t = this.o.informer.get(taskName(p));
    return t ? mismatch(t, p) : undefined;
  }

  /** Compares every run with the cache. */
  reconcile(): void {
    if (!this.o.informer.synced) return;
    for (const run of this.o.runs()) this.check(run);
  }

  /** A task of the node changed: compares the runs of that name (a deletion names the uid it took). */
  changed(type: string, t: TaskView): void {
    const name = taskName(t);
    for (const run of this.o.runs()) {
      if (run.task !== name) continue;
      if (type === "DELETED" && run.payload.uid === t.uid) this.stopRun(run, "the task was deleted");
      else this.check(run);
    }
  }

  private check(run: Run): void {
    if (run.dropped) return;
    const t = this.o.informer.get(run.task);
    let why: string | undefined;
    if (t) {
      // The run's own final report, already taken (its answer still on the way): nothing to stop.
      if (run.finalPhase !== undefined && t.uid === run.payload.uid && t.attempt === run.payload.attempt && t.phase === run.finalPhase) return;
      why = mismatch(t, run.payload);
    } else {
      const rv = this.o.informer.resourceVersion;
      if (run.confirmedAt !== undefined && rv !== undefined && rv >= run.confirmedAt) why = "the task was deleted";
    }
    if (why) this.stopRun(run, why);
  }

  private stopRun(run: Run, why: string): void {
    if (run.dropped) return;
    this.o.logger.info({ task: run.task, attempt: run.payload.attempt, node: this.o.nodeName, reason: why }, "stopping a run the control plane no longer wants");
    this.o.drop(run, why);
  }
}
