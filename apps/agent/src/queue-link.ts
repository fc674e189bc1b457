import { backoffDelay } from "@eiaas/api";
import { nodeQueueName, type QueueBackend, type QueueConsumer } from "@eiaas/queue";
import { withTimeout, type Logger } from "@eiaas/telemetry";

/** Where and as whom an agent reaches its queue (what registration hands out). */
export interface QueueCredentials {
  url: string;
  username?: string;
  password?: string;
}

/** Whether the agent can consume its queue, as its heartbeat tells the control plane. */
export interface QueueState {
  ready: boolean;
  /** Why not, when not ready. */
  message?: string;
}

export interface QueueLinkOptions {
  nodeName: string;
  logger: Logger;
  /** Opens the queue as the given user; `onError` hears the transport's connection errors. */
  open: (credentials: QueueCredentials, hooks: { onError: (err: Error) => void }) => QueueBackend;
  /** Fresh credentials: a renewal of the node's registration with its own agent token. */
  renew: () => Promise<QueueCredentials>;
  /** Starts consuming the node's queue on a backend. */
  consume: (backend: QueueBackend) => QueueConsumer;
  /** A probe's time limit. @defaultValue 2000 */
  probeTimeoutMs?: number;
  /**
   * Ceiling of the first pause between credential renewals; doubled while they do not help, up to
   * 5 minutes, each pause drawn below it (full jitter: a fleet whose Redis lost every user does not
   * renew in step). @defaultValue 5000
   */
  renewBackoffMs?: number;
}

/** Redis' answers when the agent's user is unknown, has another password, or lacks rights. */
const AUTH_FAILURE = /WRONGPASS|NOAUTH|NOPERM|invalid username-password/i;

/**
 * The queue of an agent that reaches Redis as its own ACL user, and what keeps it usable: each
 * heartbeat probes the queue (one call as that user). A Redis restarted empty has lost the user;
 * the control plane restores it (with the same password) and the connection logs in again by
 * itself. If it still fails authentication at the next probe, the agent renews its registration
 * with its own token — fresh credentials — and consumes on a new connection, backing off while
 * renewals do not help. Runs in progress are kept: a job is only the transport, the API is the
 * truth (their reports go through it). The state is what the heartbeat reports (`queue.ready`),
 * and a change of it is logged once, at warn when the queue becomes unusable.
 */
export class QueueLink {
  backend?: QueueBackend;
  consumer?: QueueConsumer;
  private state: QueueState = { ready: true };
  private lastAuthError = 0;
  private lastProbeAt = 0;
  private authFailures = 0;
  private renewAfter = 0;
  /** Renewals since the queue last answered: the index of the next pause. */
  private renewals = 0;
  private renewing?: Promise<void>;
  private probing?: Promise<QueueState>;
  private closed = false;

  constructor(private readonly o: QueueLinkOptions) {}

  /** Opens the queue with `credentials` and starts consuming. */
  connect(credentials: QueueCredentials): void {
    const old = { backend: this.backend, consumer: this.consumer };
    this.backend = this.o.open(credentials, {
      onError: (err) => {
        if (AUTH_FAILURE.test(err.message)) this.lastAuthError = Date.now();
      },
    });
    this.consumer = this.o.consume(this.backend);
    // The old connection is retired, not drained: its runs go on (their reports go through the
    // API); a forced close leaves their jobs to the new consumer once the old locks lapse.
    void (async () => {
      await old.consumer?.close({ force: true }).catch(() => undefined);
      await old.backend?.close({ force: true }).catch(() => undefined);
    })();
  }

  /** Probes the queue once (callers at once share a probe); renews the credentials when authentication keeps failing. */
  probe(): Promise<QueueState> {
    this.probing ??= this.probeOnce().finally(() => (this.probing = undefined));
    return this.probing;
  }

  private async probeOnce(): Promise<QueueState> {
    if (!this.backend || this.closed) return this.state;
    // Evidence of a denial counts from the previous probe on: an old one (a restart the control
    // plane has since repaired) says nothing about why this probe fails (Redis away, say).
    const since = this.lastProbeAt;
    this.lastProbeAt = Date.now();
    let next: QueueState;
    try {
      await withTimeout(this.backend.depth(nodeQueueName(this.o.nodeName)), this.o.probeTimeoutMs ?? 2_000, "queue");
      next = { ready: true };
      this.authFailures = 0;
      this.renewals = 0;
    } catch (err) {
      const message = (err as Error).message;
      next = { ready: false, message: `cannot consume its queue: ${message}`.slice(0, 500) };
      const denied = AUTH_FAILURE.test(message) || this.lastAuthError >= since;
      this.authFailures = denied ? this.authFailures + 1 : 0;
      // A first denial may be a Redis that just restarted, before the control plane restored the
      // user: give it until the next probe.
      if (this.authFailures >= 2 && Date.now() >= this.renewAfter) void this.renew();
    }
    if (next.ready !== this.state.ready) {
      if (next.ready) this.o.logger.info({ node: this.o.nodeName }, "queue available again");
      else this.o.logger.warn({ node: this.o.nodeName, err: next.message }, "the agent cannot consume its queue: its node is not Ready for scheduling until it can");
    }
    this.state = next;
    return next;
  }

  private renew(): Promise<void> {
    this.renewing ??= (async () => {
      const first = this.o.renewBackoffMs ?? 5_000;
      this.renewAfter = Date.now() + backoffDelay(this.renewals++, { initialMs: first, maxMs: Math.max(first, 300_000) });
      try {
        const credentials = await this.o.renew();
        if (this.closed) return;
        this.o.logger.warn({ node: this.o.nodeName }, "queue credentials refused: renewed the registration, consuming with fresh ones");
        this.connect(credentials);
      } catch (err) {
        this.o.logger.warn({ node: this.o.nodeName, err }, "could not renew the queue credentials; retrying later");
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.consumer?.close({ force: true });
    await this.backend?.close({ force: true });
  }
}
