import type { Logger } from "@eiaas/telemetry";
import type { Reporter, ReportOutcome } from "./reporter.js";
import type { Run } from "./run.js";

/**
 * The reports a run makes while it runs (Running, then its progress) and what their answers mean
 * for it: a task gone, superseded or refusing reports is dropped (`drop`).
 */
export class RunReports {
  constructor(
    private readonly reporter: Reporter,
    private readonly logger: Logger,
    private readonly drop: (run: Run, why: string) => void,
  ) {}

  /** The run is Running: reported once, superseded by the final report. */
  async running(run: Run, status: Record<string, unknown>): Promise<void> {
    const outcome = await this.reporter.send(run.payload, status, run.runningReport.signal);
    if (outcome.outcome === "applied") {
      run.confirmedAt = BigInt(outcome.object.metadata.resourceVersion);
      return;
    }
    this.settled(run, outcome);
  }

  /**
   * A run's progress (an aggregator's KPIs) into its task's status, one report at a time: while
   * one is in flight only the newest waits, so a round's burst costs at most two writes.
   */
  progress(run: Run, progress: Record<string, unknown>): void {
    run.progress = progress;
    if (run.progressInFlight || run.finalPhase !== undefined || !run.runningStatus) return;
    run.progressInFlight = true;
    const sent = run.progress;
    void this.reporter.send(run.payload, { ...run.runningStatus, ...sent }, run.runningReport.signal).then((outcome) => {
      run.progressInFlight = false;
      if (outcome.outcome !== "applied") return this.settled(run, outcome);
      if (run.progress !== sent) this.progress(run, run.progress!);
    });
  }

  /** What a report's answer means for its run: a task gone, superseded or refusing reports is dropped. */
  settled(run: Run, r: ReportOutcome): void {
    if (r.outcome === "applied" || r.outcome === "abandoned") return;
    const task = run.task;
    if (r.outcome === "gone") this.logger.info({ task }, "task no longer exists (deleted or moved): not running it");
    else if (r.outcome === "superseded") this.logger.info({ task, reason: r.message }, "the task moved past this run: stopping it");
    else this.logger.error({ task, err: r.message }, "the API refused a status report of this run: stopping it");
    if (run.finalPhase === undefined) this.drop(run, r.message);
  }
}
