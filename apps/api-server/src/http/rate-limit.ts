/** Options of a token-bucket rate limiter (per token: 50/s, burst 100 by default). */
export interface RateLimitOptions {
  /** Sustained requests per second per key. */
  qps: number;
  /** Bucket size: requests allowed at once after idling. */
  burst: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/**
 * A token bucket per key (a bearer token; a client address for failed authentications), in
 * memory: each API replica enforces the limit on the requests it serves. Returns 0 when allowed, else the seconds until one request is allowed.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly options: RateLimitOptions) {}

  take(key: string, nowMs: number): number {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size > 100_000) this.sweep(nowMs);
      b = { tokens: this.options.burst, updated: nowMs };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.options.burst, b.tokens + ((nowMs - b.updated) / 1000) * this.options.qps);
    b.updated = nowMs;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.options.qps));
  }

  /** Gives back what `take` took (the request turned out not to count, e.g. a valid token). */
  refund(key: string): void {
    const b = this.buckets.get(key);
    if (b) b.tokens = Math.min(this.options.burst, b.tokens + 1);
  }

  /** Forgets full buckets (idle keys) so the map cannot grow without bound. */
  private sweep(nowMs: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((nowMs - b.updated) / 1000) * this.options.qps >= this.options.burst) this.buckets.delete(k);
    }
  }
}
