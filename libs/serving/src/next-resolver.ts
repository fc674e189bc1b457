import { NextStage, type ForwardResult, type NextStageOptions } from "./forward.js";
import { ServingError, type Tensor } from "./wire.js";

/** Where the next stage is, looked up when needed (a split plan's tail, by its Task's name). */
export interface NextStageSource {
  /** What the next stage is, for messages and `/healthz` (e.g. `task demo/svc-r3-tail-1a2b3c4d`). */
  describe: string;
  /** Its `host:port` now, or undefined while it has none (not Running yet, being re-placed). Must not throw for "not yet". */
  resolve(): Promise<string | undefined>;
  /** How long a resolved endpoint is used without asking again. @defaultValue 2000 */
  ttlMs?: number;
  /** The clock the cache's age is read on (tests move one by hand). @defaultValue Date.now */
  now?: () => number;
}

/** How long "the next stage has no endpoint" is believed before asking again. */
const NO_ENDPOINT_TTL_MS = 500;

/** What a pipeline forwards through: a fixed next stage or one resolved at request time. */
export interface Forwarder {
  /** `host:port` it forwards to now (or what it is, while unresolved). */
  readonly endpoint: string;
  infer(t: Tensor): Promise<ForwardResult>;
  close(): void;
}

/**
 * A next stage whose endpoint is resolved at request time and cached for `ttlMs` (level-triggered:
 * whatever the control plane says now is used, with no event to miss). A tail that restarts on a
 * new port, or is being replaced, costs at most one failed connection: a forward that cannot
 * connect re-resolves at once and retries once when the endpoint changed; while there is no
 * endpoint requests are refused 503 with `retry-after` and it is asked again after 0.5 s.
 */
export class ResolvedNextStage implements Forwarder {
  /** The last lookup's answer: undefined when it found no endpoint (or none was made yet). */
  private stage?: NextStage;
  private resolvedAt = -Infinity;
  private pending?: Promise<NextStage | undefined>;

  constructor(
    private readonly source: NextStageSource,
    private readonly options: NextStageOptions = {},
  ) {}

  private now(): number {
    return (this.source.now ?? Date.now)();
  }

  get endpoint(): string {
    return this.stage?.endpoint ?? this.source.describe;
  }

  async infer(t: Tensor): Promise<ForwardResult> {
    const stage = await this.current(false);
    try {
      return await stage.infer(t);
    } catch (err) {
      // Only a connection that could not be made is retried: the request never reached a tail.
      if (!(err instanceof ServingError) || !/cannot reach it/.test(err.message)) throw err;
      const again = await this.current(true);
      if (again === stage) throw err;
      return again.infer(t);
    }
  }

  /** The stage to forward to: the cached one while fresh, else resolved again (one lookup at a time). */
  private async current(refresh: boolean): Promise<NextStage> {
    // "No endpoint" is asked again sooner: the tail is about to come up. Still cached a little, so a
    // flood of requests to a head whose tail is down is not a flood of API reads.
    const ttl = this.source.ttlMs ?? 2_000;
    const fresh = this.now() - this.resolvedAt < (this.stage ? ttl : Math.min(ttl, NO_ENDPOINT_TTL_MS));
    const stage = fresh && !refresh ? this.stage : await (this.pending ??= this.lookup().finally(() => (this.pending = undefined)));
    if (!stage) throw new ServingError(503, `the next stage (${this.source.describe}) has no endpoint yet`, { "retry-after": "1" });
    return stage;
  }

  private async lookup(): Promise<NextStage | undefined> {
    let endpoint: string | undefined;
    try {
      endpoint = await this.source.resolve();
    } catch (err) {
      throw new ServingError(503, `cannot look up the next stage (${this.source.describe}): ${(err as Error).message}`, { "retry-after": "1" });
    }
    this.resolvedAt = this.now();
    const old = this.stage;
    if (old && (old.endpoint === endpoint || `http://${old.endpoint}` === endpoint)) return old;
    this.stage = undefined;
    // Requests still forwarding to the old one keep their sockets until they end.
    if (old) setTimeout(() => old.close(), (this.options.timeoutMs ?? 30_000) + 1_000).unref();
    if (!endpoint) return undefined;
    let stage: NextStage;
    try {
      stage = new NextStage(endpoint, this.options);
    } catch (err) {
      throw new ServingError(502, `the next stage (${this.source.describe}) reports a bad endpoint: ${(err as Error).message}`);
    }
    this.stage = stage;
    return stage;
  }

  close(): void {
    this.stage?.close();
  }
}
