// The one retry/backoff helper of the control plane and its agents: exponential backoff with full
// jitter, a cap, an abort signal, and an injectable clock and random source for tests.
//
// Jitter is "full jitter" as defined in Marc Brooker's "Exponential Backoff And Jitter" (AWS
// Architecture Blog, 2015): pause n is drawn uniformly from [0, min(maxMs, initialMs × factor^n)).
// Why full rather than decorrelated jitter (`min(cap, random(base, previous × 3))`):
// - the blog measured both as the two that cut contending clients' work most (equal jitter, which
//   the agent used before, keeps the first half of every window empty: a fleet comes back twice as
//   dense);
// - a pause is a function of its index alone, no previous pause carried along, so the same draw
//   serves a loop, a timer that reschedules itself, ioredis' `retryStrategy(times)` and a map of
//   per-workload deadlines;
// - decorrelated jitter clips every draw above the cap to exactly the cap: once a long outage has
//   grown the pauses that far, about two thirds of a fleet retry at exactly `maxMs`, in step again.
//   Full jitter stays uniform below the cap however long the outage lasts.

/** An exponential backoff: the ceiling of pause `n` (0: after the first failure) is `min(maxMs, initialMs × factor^n)`. */
export interface BackoffPolicy {
  /** Ceiling of the first pause, in ms. */
  initialMs: number;
  /** Highest ceiling, in ms: no pause is longer (but for what a failure asks, see {@link RetryOptions.minDelayMs}). */
  maxMs: number;
  /** Growth of the ceiling per failure. @defaultValue 2 */
  factor?: number;
}

/** Time as the helper sees it: real by default ({@link systemClock}), fake in tests. */
export interface RetryClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export const systemClock: RetryClock = { now: () => Date.now(), sleep };

function checkPolicy(p: BackoffPolicy): void {
  const factor = p.factor ?? 2;
  if (!(p.initialMs > 0) || !(p.maxMs >= p.initialMs) || !Number.isFinite(p.maxMs) || !(factor >= 1)) {
    throw new RangeError(`backoff policy: want 0 < initialMs <= maxMs < Infinity and factor >= 1, got initialMs ${p.initialMs}, maxMs ${p.maxMs}, factor ${factor}`);
  }
}

/** The ceiling of pause `n` (0 for the pause after the first failure), before jitter. */
export function backoffCeiling(n: number, p: BackoffPolicy): number {
  checkPolicy(p);
  // factor^n overflows to Infinity for a large n: the cap still holds.
  return Math.min(p.maxMs, p.initialMs * (p.factor ?? 2) ** Math.max(0, n));
}

/**
 * Pause `n` with full jitter: uniform in [0, ceiling). `floorMs`, what the failure asked for (a
 * server's Retry-After), is added below the draw — capped at `maxMs` — so a fleet told the same
 * second still spreads over the window after it.
 */
export function backoffDelay(n: number, p: BackoffPolicy, floorMs?: number, random: () => number = Math.random): number {
  const floor = floorMs !== undefined && floorMs > 0 ? Math.min(floorMs, p.maxMs) : 0;
  return floor + random() * backoffCeiling(n, p);
}

/** How a {@link retry} tries again. */
export interface RetryOptions extends BackoffPolicy {
  /** Stops retrying: a pause ends at once and the last failure is thrown. */
  signal?: AbortSignal;
  /** Whether a failure is worth another try; any other is thrown at once. @defaultValue every failure is */
  retryable?: (err: unknown) => boolean;
  /** Most tries in all, the first included; the last failure is thrown after it. @defaultValue unlimited */
  maxAttempts?: number;
  /**
   * Gives up (throwing the last failure) rather than start a try later than this many ms after
   * the first failure. @defaultValue unlimited
   */
  maxElapsedMs?: number;
  /** The least pause a failure asks for, in ms (a server's Retry-After); see {@link backoffDelay}. */
  minDelayMs?: (err: unknown) => number | undefined;
  /** Hears each failure about to be retried, with its 0-based index and the pause before the next try. */
  onRetry?: (err: unknown, retry: { attempt: number; delayMs: number }) => void;
  /** Uniform in [0, 1). @defaultValue Math.random */
  random?: () => number;
  /** @defaultValue {@link systemClock} */
  clock?: RetryClock;
}

/**
 * Runs `fn` (given the 0-based try number) until it resolves, with a jittered exponential pause
 * after each failure; throws the last failure when it is not retryable, the tries or the time are
 * used up, or `signal` aborts.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  checkPolicy(o);
  const clock = o.clock ?? systemClock;
  let firstFailureAt: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (o.signal?.aborted || (o.retryable && !o.retryable(err)) || attempt + 1 >= (o.maxAttempts ?? Infinity)) throw err;
      const now = clock.now();
      firstFailureAt ??= now;
      const delayMs = backoffDelay(attempt, o, o.minDelayMs?.(err), o.random);
      if (o.maxElapsedMs !== undefined && now + delayMs - firstFailureAt > o.maxElapsedMs) throw err;
      o.onRetry?.(err, { attempt, delayMs });
      await clock.sleep(delayMs, o.signal);
      if (o.signal?.aborted) throw err;
    }
  }
}
