import type { QueueBackend, ScheduleItem } from "@eiaas/queue";
import type { Logger } from "@eiaas/telemetry";

/**
 * Coalesces the scheduler hints of writes that arrive close together into ONE `schedule` job: a
 * hint only wakes the scheduler (a cycle reads everything that changed from the watch log, whatever
 * workload the job names), and every job costs the scheduler a BullMQ completion, so one per batch
 * is enough — it names the newest write. The scheduler also wakes on every commit (LISTEN) and
 * runs a cycle at least every resync period, so a lost hint only delays; a failed enqueue is
 * logged, not retried.
 */
export class ScheduleHints {
  private pending: ScheduleItem[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly queue: Pick<QueueBackend, "enqueueSchedule">,
    private readonly logger: Logger,
    /** How long the first hint of a batch waits for company. Default 25 ms. */
    private readonly lingerMs = 25,
  ) {}

  add(item: ScheduleItem): void {
    this.pending.push(item);
    this.timer ??= setTimeout(() => void this.flush(), this.lingerMs);
  }

  /** Enqueues what is pending now (also on shutdown). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const items = this.pending.splice(0);
    const newest = items[items.length - 1];
    if (!newest) return;
    await this.queue.enqueueSchedule([newest]).catch((err) => this.logger.debug({ err, hints: items.length }, "schedule hint not enqueued"));
  }
}
