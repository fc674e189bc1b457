import { API_PREFIX } from "@eiaas/api";
import type { EiaasClient } from "@eiaas/client";
import type { Logger } from "@eiaas/telemetry";
import type { QueueState } from "./queue-link.js";

export interface HeartbeatOptions {
  client: () => EiaasClient;
  nodeName: string;
  logger: Logger;
  /** Period. @defaultValue 10000 */
  periodMs?: number;
  /** The link to the parent, measured now. */
  link: () => { uplinkMbps?: number; rttMs?: number };
  /** `<namespace>/<name>` of every task attempt the agent runs now (a stopping one included). */
  running: () => Iterable<string>;
  /** Whether the agent can consume its queue (probed now); undefined when not its to tell. */
  queue?: () => Promise<QueueState>;
  agent: { version: string; runtime: string };
}

/**
 * The node's heartbeat (`POST .../edgenodes/{name}/heartbeat`): renews the lease, reports the link,
 * what actually runs here — so the control plane can tell a run it already ended (a ghost) — and
 * whether the queue can be consumed. Besides the period, {@link soon} sends one promptly: after the
 * agent stopped a run the control plane had ended, whose slot the scheduler holds until it hears.
 */
export class Heartbeat {
  private timer?: NodeJS.Timeout;
  private pending?: NodeJS.Timeout;
  private stopped = false;
  private inFlight = false;
  private again = false;

  constructor(private readonly o: HeartbeatOptions) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.o.periodMs ?? 10_000);
    this.timer.unref();
  }

  /** A heartbeat shortly (changes within 100 ms share it). */
  soon(): void {
    if (this.stopped || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.beat();
    }, 100);
    this.pending.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.pending);
  }

  /** One heartbeat at a time (a slow probe or API must not let them overtake each other); one more follows if asked meanwhile. */
  private async beat(): Promise<void> {
    if (this.stopped) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    try {
      do {
        this.again = false;
        await this.send();
      } while (this.again && !this.stopped);
    } finally {
      this.inFlight = false;
    }
  }

  private async send(): Promise<void> {
    const link = this.o.link();
    const queue = this.o.queue ? await this.o.queue() : undefined;
    try {
      await this.o.client().request({
        method: "POST",
        path: `${API_PREFIX}/edgenodes/${this.o.nodeName}/heartbeat`,
        body: {
          ...(link.uplinkMbps !== undefined ? { uplinkMbps: link.uplinkMbps } : {}),
          ...(link.rttMs !== undefined ? { rttMs: link.rttMs } : {}),
          // Namespaced: two tenants' tasks may share a name on one node.
          runningTasks: [...new Set(this.o.running())].sort(),
          ...(queue ? { queue } : {}),
          agent: this.o.agent,
        },
      });
    } catch (err) {
      if (!this.stopped) this.o.logger.warn({ err, node: this.o.nodeName }, "heartbeat failed");
    }
  }
}
