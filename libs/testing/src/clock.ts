// A clock a test moves by hand, for code that takes a `now` option: time passes in one call
// instead of a sleep (the test neither waits nor depends on how busy the machine is).

export interface ManualClock {
  /** The clock's time, in epoch milliseconds: hand this to the code under test as its `now`. */
  readonly now: () => number;
  /** Moves the clock `ms` forward. */
  advance(ms: number): void;
}

/**
 * A clock that starts at the real time (so timestamps minted against the real clock compare
 * sensibly) and moves only when told.
 * @param start - its first reading. @defaultValue Date.now()
 */
export function manualClock(start = Date.now()): ManualClock {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      if (!(ms >= 0)) throw new Error(`a clock moves forward only (advance(${ms}))`);
      t += ms;
    },
  };
}

/**
 * The real clock plus however far the test has moved it: time passes as usual and jumps when told.
 * For a clock a whole app shares (rate limits still refill, caches still expire between tests).
 */
export function advancingClock(): ManualClock {
  let ahead = 0;
  return {
    now: () => Date.now() + ahead,
    advance: (ms) => {
      if (!(ms >= 0)) throw new Error(`a clock moves forward only (advance(${ms}))`);
      ahead += ms;
    },
  };
}
