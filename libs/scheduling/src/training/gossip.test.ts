import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gossipPeers } from "./gossip.js";

describe("gossipPeers", () => {
  it.each([
    [[], {}],
    [["a"], { a: [] }],
    [["b", "a"], { a: ["b"], b: ["a"] }],
    [["a", "b", "c"], { a: ["b", "c"], b: ["a", "c"], c: ["a", "b"] }],
    // ring a-b-c-d-e-a plus chords a-c, b-d
    [["e", "d", "c", "b", "a"], { a: ["b", "c", "e"], b: ["a", "c", "d"], c: ["a", "b", "d"], d: ["b", "c", "e"], e: ["a", "d"] }],
  ])("%o", (names, peers) => {
    expect(gossipPeers(names)).toEqual(peers);
  });

  it("is connected, symmetric, ≤ 3 peers each and independent of input order (property)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 40 }), (names) => {
        const g = gossipPeers(names);
        expect(gossipPeers([...names].reverse())).toEqual(g);
        for (const [n, ps] of Object.entries(g)) {
          expect(ps.length).toBeLessThanOrEqual(3);
          for (const p of ps) expect(g[p]).toContain(n);
        }
        const start = names[0];
        if (start === undefined) return;
        const seen = new Set([start]);
        const frontier = [start];
        while (frontier.length > 0) {
          for (const p of g[frontier.pop()!]!) {
            if (seen.has(p)) continue;
            seen.add(p);
            frontier.push(p);
          }
        }
        expect(seen.size).toBe(names.length);
      }),
      { numRuns: 300, seed: 3 },
    );
  });
});
