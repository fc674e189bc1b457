// The retry helper with an injected clock (no real sleeping) and seeded random sources: the bounds
// of every pause, when it gives up, and that a fleet of agents failing together does not retry in
// lockstep (a property of the distribution of their pauses, not a timing).
import { describe, expect, it } from "vitest";
import { backoffCeiling, backoffDelay, retry, type RetryClock } from "./retry.js";

/** mulberry32: a small seeded generator, uniform in [0, 1). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A clock whose sleeps return at once and move its time on by what was asked. */
function fakeClock(start = 1_000_000): RetryClock & { slept: number[] } {
  let t = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

const failing = (times: number, err: unknown = new Error("down")) => {
  let calls = 0;
  return async (attempt: number) => {
    calls++;
    if (attempt !== calls - 1) throw new Error("attempt numbers out of order");
    if (calls <= times) throw err;
    return `ok after ${calls}`;
  };
};

describe("backoff", () => {
  it("grows the ceiling by the factor per failure up to the cap, without overflowing", () => {
    const p = { initialMs: 100, maxMs: 2_000 };
    expect([0, 1, 2, 3, 4, 5, 1_000, 1e9].map((n) => backoffCeiling(n, p))).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000]);
    expect(backoffCeiling(2, { initialMs: 10, maxMs: 1_000, factor: 3 })).toBe(90);
  });

  it("draws each pause uniformly below its ceiling (full jitter); a floor asked for goes below the draw, capped", () => {
    const p = { initialMs: 100, maxMs: 2_000 };
    expect(backoffDelay(3, p, undefined, () => 0)).toBe(0);
    expect(backoffDelay(3, p, undefined, () => 0.5)).toBe(400);
    expect(backoffDelay(3, p, undefined, () => 0.999999)).toBeLessThan(800);
    expect(backoffDelay(0, p, 7_000, () => 0)).toBe(2_000);
    expect(backoffDelay(0, p, 1_000, () => 0.5)).toBe(1_050);
  });

  it("refuses a policy that cannot back off", () => {
    expect(() => backoffCeiling(0, { initialMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => backoffCeiling(0, { initialMs: 10, maxMs: 5 })).toThrow(RangeError);
    expect(() => backoffCeiling(0, { initialMs: 10, maxMs: Infinity })).toThrow(RangeError);
    expect(() => backoffCeiling(0, { initialMs: 10, maxMs: 20, factor: 0.5 })).toThrow(RangeError);
  });
});

describe("retry", () => {
  it("tries until it succeeds, each pause jittered below its ceiling, telling onRetry", async () => {
    const clock = fakeClock();
    const told: Array<{ attempt: number; delayMs: number }> = [];
    const result = await retry(failing(6), { initialMs: 100, maxMs: 1_000, clock, random: seeded(1), onRetry: (_, r) => told.push(r) });
    expect(result).toBe("ok after 7");
    expect(clock.slept).toHaveLength(6);
    expect(told.map((r) => r.attempt)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(told.map((r) => r.delayMs)).toEqual(clock.slept);
    clock.slept.forEach((ms, n) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(Math.min(1_000, 100 * 2 ** n));
    });
  });

  it("throws at once what is not retryable, and the last failure when the tries are used up", async () => {
    const clock = fakeClock();
    const fatal = new Error("refused for good");
    await expect(retry(failing(3, fatal), { initialMs: 10, maxMs: 100, clock, retryable: (e) => e !== fatal })).rejects.toBe(fatal);
    expect(clock.slept).toEqual([]);
    await expect(retry(failing(10), { initialMs: 10, maxMs: 100, clock, maxAttempts: 4 })).rejects.toThrow("down");
    expect(clock.slept).toHaveLength(3);
  });

  it("gives up rather than start a try past maxElapsedMs after the first failure", async () => {
    const clock = fakeClock();
    // Every draw at the top of its window: 100, 200, 400, 800, 1000, ... ms.
    await expect(retry(failing(100), { initialMs: 100, maxMs: 1_000, clock, random: () => 0.999999, maxElapsedMs: 2_000 })).rejects.toThrow("down");
    const total = clock.slept.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(2_000);
    expect(clock.slept).toHaveLength(4);
    // 0: fails at once.
    const c2 = fakeClock();
    await expect(retry(failing(1), { initialMs: 100, maxMs: 2_000, clock: c2, maxElapsedMs: 0, random: () => 0.5 })).rejects.toThrow("down");
    expect(c2.slept).toEqual([]);
  });

  it("waits at least what the failure asks (Retry-After), plus its jitter", async () => {
    const clock = fakeClock();
    const busy = Object.assign(new Error("429"), { retryAfterMs: 3_000 });
    await retry(failing(2, busy), { initialMs: 100, maxMs: 10_000, clock, random: () => 0.5, minDelayMs: (e) => (e as typeof busy).retryAfterMs });
    expect(clock.slept).toEqual([3_050, 3_100]);
  });

  it("an abort ends the pause at once and throws the last failure; nothing is tried after it", async () => {
    const ac = new AbortController();
    let calls = 0;
    const clock: RetryClock = {
      now: () => 0,
      // The real sleep's contract: returns early when aborted.
      sleep: async () => ac.abort(),
    };
    const last = new Error("still down");
    await expect(
      retry(
        async () => {
          calls++;
          throw last;
        },
        { initialMs: 10, maxMs: 100, clock, signal: ac.signal },
      ),
    ).rejects.toBe(last);
    expect(calls).toBe(1);
  });

  it("5,000 agents failing together do not retry in lockstep: different seeds spread their pauses over the whole window", () => {
    const p = { initialMs: 500, maxMs: 30_000 };
    const agents = Array.from({ length: 5_000 }, (_, i) => seeded(1 + i * 7919));
    // Two helpers with different seeds: different pauses at every step.
    const a = Array.from({ length: 8 }, (_, n) => backoffDelay(n, p, undefined, agents[0]));
    const b = Array.from({ length: 8 }, (_, n) => backoffDelay(n, p, undefined, agents[1]));
    a.forEach((d, n) => expect(d).not.toBe(b[n]));
    // The fleet's n-th retries: when each agent tries again, counted in tenths of the window. Full
    // jitter spreads them evenly (500 each expected; without jitter all 5,000 would share one
    // instant, with equal jitter the first five tenths would be empty).
    for (const n of [0, 3, 7]) {
      const ceiling = backoffCeiling(n, p);
      const bins = new Array<number>(10).fill(0);
      for (const random of agents) bins[Math.floor((backoffDelay(n, p, undefined, random) / ceiling) * 10)]!++;
      for (const count of bins) {
        expect(count).toBeGreaterThan(400);
        expect(count).toBeLessThan(600);
      }
    }
    // Nor do they meet again later: after five failures each, no 1% of the span of their sixth
    // tries holds more than 3% of the fleet.
    const sixth = agents.map((random) => Array.from({ length: 6 }, (_, n) => backoffDelay(n, p, undefined, random)).reduce((s, d) => s + d, 0));
    const lo = Math.min(...sixth);
    const span = Math.max(...sixth) - lo;
    const buckets = new Array<number>(100).fill(0);
    for (const t of sixth) buckets[Math.min(99, Math.floor(((t - lo) / span) * 100))]!++;
    expect(Math.max(...buckets)).toBeLessThan(150);
  });
});
