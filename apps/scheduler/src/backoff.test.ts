import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff.js";

describe("Backoff", () => {
  it("doubles from 1 s to 5 min across failures of the same spec", () => {
    const b = new Backoff();
    const waits = Array.from({ length: 12 }, (_, i) => b.fail("w", 1, i * 1_000_000));
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000]);
  });

  it.each([
    { what: "before the wait is over", generation: 1, at: 999, waiting: true },
    { what: "once the wait is over", generation: 1, at: 1_000, waiting: false },
    { what: "after a spec change, at once", generation: 2, at: 1, waiting: false },
  ])("waits $what", ({ generation, at, waiting }) => {
    const b = new Backoff();
    b.fail("w", 1, 0);
    expect(b.waiting("w", generation, at)).toBe(waiting);
    expect(b.waiting("other", 1, at)).toBe(false);
  });

  it("a spec change starts the count over; forgetting ends it", () => {
    const b = new Backoff({ initialMs: 10, maxMs: 1_000 });
    b.fail("w", 1, 0);
    b.fail("w", 1, 0);
    expect(b.fail("w", 1, 0)).toBe(40);
    expect(b.waiting("w", 2, 0)).toBe(false);
    expect(b.fail("w", 2, 0)).toBe(10);
    b.forget("w");
    expect(b.fail("w", 2, 0)).toBe(10);
  });

  it("names the workloads due for another try", () => {
    const b = new Backoff();
    b.fail("a", 1, 0); // due at 1 000
    b.fail("b", 1, 0);
    b.fail("b", 1, 0); // due at 2 000
    expect(b.due(999)).toEqual([]);
    expect(b.due(1_000)).toEqual(["a"]);
    expect(b.due(2_000).sort()).toEqual(["a", "b"]);
    b.forget("a");
    expect(b.due(5_000)).toEqual(["b"]);
    expect(b.size).toBe(1);
  });
});
