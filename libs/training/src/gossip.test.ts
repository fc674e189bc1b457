import { describe, expect, it } from "vitest";
import { degreesOf, gossipMix, metropolisWeight } from "./gossip.js";

// Five peers on a ring with two chords (the planner's graph for five names).
const graph: Record<string, string[]> = { a: ["b", "c", "e"], b: ["a", "c", "d"], c: ["a", "b", "d"], d: ["b", "c", "e"], e: ["a", "d"] };
const degrees = degreesOf(graph);

type Models = Map<string, Float64Array<ArrayBufferLike>>;

function step(models: Models, skip: ReadonlySet<string> = new Set()): Models {
  const next: Models = new Map();
  for (const [node, w] of models) {
    const neighbours = graph[node]!.filter((n) => !skip.has(`${node}<-${n}`)).map((n) => ({ node: n, w: models.get(n)! }));
    next.set(node, gossipMix({ node, w }, neighbours, degrees));
  }
  return next;
}

describe("gossip mixing (Metropolis–Hastings weights)", () => {
  it("weights are symmetric and rows sum to one: the peers' mean is kept and every peer converges to it", () => {
    expect(metropolisWeight(3, 2)).toBe(metropolisWeight(2, 3));
    let models: Models = new Map(Object.keys(graph).map((n, i) => [n, Float64Array.from([i * 10, -i, 1])]));
    const mean = [20, -2, 1];
    for (let k = 0; k < 60; k++) {
      models = step(models);
      const avg = [0, 1, 2].map((j) => [...models.values()].reduce((s, w) => s + w[j]!, 0) / models.size);
      avg.forEach((v, j) => expect(v).toBeCloseTo(mean[j]!, 9));
    }
    for (const w of models.values()) [0, 1, 2].forEach((j) => expect(w[j]!).toBeCloseTo(mean[j]!, 6));
  });

  it("a neighbour without a model this time gives its weight back to the peer itself (lazier, not biased)", () => {
    const self = Float64Array.from([1, 1]);
    const lone = gossipMix({ node: "e", w: self }, [], degrees);
    expect([...lone]).toEqual([1, 1]);
    const half = gossipMix({ node: "e", w: self }, [{ node: "a", w: Float64Array.from([5, -3]) }], degrees);
    const wea = metropolisWeight(2, 3); // 1/4
    expect(half[0]).toBeCloseTo((1 - wea) * 1 + wea * 5, 12);
    expect(half[1]).toBeCloseTo((1 - wea) * 1 + wea * -3, 12);
    // With a link down now and then, the peers still agree in the end.
    let models: Models = new Map(Object.keys(graph).map((n, i) => [n, Float64Array.from([i])]));
    for (let k = 0; k < 200; k++) models = step(models, new Set(k % 3 === 0 ? ["a<-b", "d<-e"] : []));
    const vs = [...models.values()].map((w) => w[0]!);
    expect(Math.max(...vs) - Math.min(...vs)).toBeLessThan(1e-3);
  });
});
