/**
 * Gossip averaging (decentralized SGD, Lian et al. NeurIPS 2017; Boyd et al.'s randomized gossip):
 * each peer replaces its model by a weighted average of its own and its neighbours' models, with
 * Metropolis–Hastings weights wᵢⱼ = 1 / (1 + max(dᵢ, dⱼ)) from the peer graph's degrees. These
 * weights are symmetric and every row sums to one (doubly stochastic), so repeated mixing drives
 * every peer to the *uniform* average of the peers' models without any peer knowing more than its
 * neighbours' degrees.
 */

/** A neighbour's model, with the neighbour's name (for its degree). */
export interface NeighbourModel {
  node: string;
  w: Float64Array;
}

/**
 * The mixing weight a peer of degree `selfDegree` gives a neighbour of degree `theirDegree`
 * (Metropolis–Hastings).
 */
export function metropolisWeight(selfDegree: number, theirDegree: number): number {
  return 1 / (1 + Math.max(selfDegree, theirDegree));
}

/**
 * One gossip step of a peer: Σⱼ wᵢⱼ·wⱼ over the neighbours whose model it has, plus the weight
 * left (1 − Σⱼ wᵢⱼ, which includes the share of neighbours it has no model of this time) on its
 * own model. A missing neighbour thus makes the step lazier, never biased toward anyone.
 * `degrees` are the planned graph's (node → number of neighbours).
 */
export function gossipMix(self: { node: string; w: Float64Array }, neighbours: readonly NeighbourModel[], degrees: ReadonlyMap<string, number>): Float64Array {
  const di = degrees.get(self.node) ?? neighbours.length;
  const out = new Float64Array(self.w.length);
  let selfWeight = 1;
  for (const n of neighbours) {
    const wij = metropolisWeight(di, degrees.get(n.node) ?? di);
    selfWeight -= wij;
    for (let k = 0; k < out.length; k++) out[k] = out[k]! + wij * n.w[k]!;
  }
  for (let k = 0; k < out.length; k++) out[k] = out[k]! + selfWeight * self.w[k]!;
  return out;
}

/** Degrees of a peer graph (node → neighbours). */
export function degreesOf(peers: Readonly<Record<string, readonly string[]>>): Map<string, number> {
  return new Map(Object.entries(peers).map(([node, ns]) => [node, ns.length]));
}
