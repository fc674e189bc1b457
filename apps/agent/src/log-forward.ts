import { API_PREFIX } from "@eiaas/api";
import type { EiaasClient } from "@eiaas/client";
import type { TaskJobPayload } from "@eiaas/queue";
import type { Logger } from "@eiaas/telemetry";

/** Lines kept per task attempt between two forwards: a task printing faster loses the rest. */
const MAX_UNSENT_LINES = 1_000;

export interface LogForwarderOptions {
  client: () => EiaasClient;
  logger: Logger;
  /** How often buffered output is forwarded. @defaultValue 2000 */
  periodMs?: number;
}

/**
 * Forwards task output to the API (`PUT .../tasks/{name}/log`, from which the API serves `eictl
 * logs`): buffered per task attempt and sent every `periodMs`, and at once when a run ends. Best
 * effort: a forward that fails is dropped, not retried.
 */
export class LogForwarder {
  private readonly unsent = new Map<string, { payload: TaskJobPayload; lines: string[] }>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: LogForwarderOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.o.periodMs ?? 2_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One line of the run `key` of the task `payload` names. */
  append(key: string, payload: TaskJobPayload, line: string): void {
    const u = this.unsent.get(key) ?? { payload, lines: [] };
    if (u.lines.length < MAX_UNSENT_LINES) u.lines.push(line);
    this.unsent.set(key, u);
  }

  /** Sends what is buffered (of the run `only`, else of all). */
  async flush(only?: string): Promise<void> {
    for (const [key, u] of this.unsent) {
      if (only !== undefined && key !== only) continue;
      this.unsent.delete(key);
      const p = u.payload;
      await this.o
        .client()
        .request({ method: "PUT", path: `${API_PREFIX}/namespaces/${p.namespace}/tasks/${p.name}/log`, body: { attempt: p.attempt, lines: u.lines } })
        .catch((err) => this.o.logger.debug({ err, task: p.name }, "log forward failed"));
    }
  }
}
