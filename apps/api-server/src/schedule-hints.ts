import type { QueueBackend, ScheduleItem } from "@eiaas/queue";
import type { Logger } from "@eiaas/telemetry";

/**
 * Collects the scheduler hints of writes that arrive close together and enqueues them with one
 * `addBulk` (one Redis round trip and script call per batch, not per write). A hint only wakes the
 * scheduler sooner — its periodic re-read and its LISTEN cover a lost one — so a failed enqueue is
 * logged, not retried.
 */
export class ScheduleHints {
  private pending: ScheduleItem[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly queue: Pick<QueueBackend, "enqueueSchedule">,
    private readonly logger: Logger,
    /** How long the first hint of a batch waits for company. Default 5 ms. */
    private readonly lingerMs = 5,
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
    if (!items.length) return;
    await this.queue.enqueueSchedule(items).catch((err) => this.logger.debug({ err: (err as Error).message, hints: items.length }, "schedule hints not enqueued"));
  }
}
