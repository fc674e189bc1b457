import type { EventInput, EventRecorder } from "@eiaas/db";
import type { Logger } from "@eiaas/telemetry";

/**
 * Events written behind the scheduling loop, as client-go's event broadcaster does: a cycle hands
 * its Events over and goes on; one write is in flight at a time and takes everything that queued up
 * meanwhile (one read and one multi-row insert). An Event is informational — a failed write is
 * logged and dropped, never retried into the next cycle's way.
 */
export class EventBuffer {
  private pending: Array<{ input: EventInput; at: Date }> = [];
  private writing?: Promise<void>;

  constructor(
    private readonly recorder: EventRecorder,
    private readonly logger: Logger,
  ) {}

  add(inputs: readonly EventInput[], at: Date): void {
    if (!inputs.length) return;
    for (const input of inputs) this.pending.push({ input, at });
    this.writing ??= this.writeAll().finally(() => {
      this.writing = undefined;
    });
  }

  /** Resolves once everything handed over so far is written (or dropped). */
  async drain(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeAll(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0);
      // Aggregated per timestamp as the recorder does; a cycle's Events share theirs.
      const byTime = new Map<number, EventInput[]>();
      for (const e of batch) byTime.set(e.at.getTime(), [...(byTime.get(e.at.getTime()) ?? []), e.input]);
      for (const [ms, inputs] of byTime) {
        await this.recorder.recordMany(inputs, new Date(ms)).catch((err) => this.logger.debug({ err, events: inputs.length }, "events not recorded"));
      }
    }
  }
}
