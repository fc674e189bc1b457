import type { Snapshot } from "./snapshot.js";

/** The network between two nodes: bottleneck bandwidth, summed RTT and links crossed. */
export interface NetworkPath {
  /** Mbit/s; Infinity when no link is crossed (same node). */
  bandwidthMbps: number;
  rttMs: number;
  hops: number;
}

/**
 * Fills `out` with the path from → to, which follows parents up to the lowest common ancestor and
 * down (design.md §5): B = min(uplinkMbps of each node passed going up, downlinkMbps of each node passed
 * going down), RTT = Σ rttMs of the links crossed. Returns false (out untouched) when the two nodes
 * share no ancestor, i.e. there is no path. Allocation-free for hot loops.
 */
export function pathInto(snapshot: Snapshot, from: number, to: number, out: NetworkPath): boolean {
  const nodes = snapshot.nodes;
  const up = nodes[from]!.ancestors;
  const down = nodes[to]!.ancestors;
  // Fleets are shallow (device → edge → cloud), so a quadratic scan beats building a set.
  let ku = -1;
  let kd = -1;
  for (let a = 0; a < up.length && ku < 0; a++) {
    const x = up[a]!;
    for (let b = 0; b < down.length; b++) {
      if (down[b] === x) {
        ku = a;
        kd = b;
        break;
      }
    }
  }
  if (ku < 0) return false;
  let bw = Infinity;
  let rtt = 0;
  for (let a = 0; a < ku; a++) {
    const net = nodes[up[a]!]!.network;
    if (net.uplinkMbps < bw) bw = net.uplinkMbps;
    rtt += net.rttMs;
  }
  for (let b = 0; b < kd; b++) {
    const net = nodes[down[b]!]!.network;
    if (net.downlinkMbps < bw) bw = net.downlinkMbps;
    rtt += net.rttMs;
  }
  out.bandwidthMbps = bw;
  out.rttMs = rtt;
  out.hops = ku + kd;
  return true;
}

/** The path from → to by node name or index, or undefined when there is none. */
export function networkPath(snapshot: Snapshot, from: string | number, to: string | number): NetworkPath | undefined {
  const a = typeof from === "number" ? from : snapshot.nodeIndex(from);
  const b = typeof to === "number" ? to : snapshot.nodeIndex(to);
  if (a < 0 || b < 0) return undefined;
  const out: NetworkPath = { bandwidthMbps: 0, rttMs: 0, hops: 0 };
  return pathInto(snapshot, a, b, out) ? out : undefined;
}

/**
 * Milliseconds to move `bytes` over a path: 8·D/(B·1000) + RTT. A zero-bandwidth link carries
 * nothing (Infinity); crossing no link costs nothing.
 */
export function transferMs(bytes: number, bandwidthMbps: number, rttMs: number): number {
  return serializationMs(bytes, bandwidthMbps) + rttMs;
}

/** 8·D/(B·1000): the time to put `bytes` on the wire, without RTT (what the sender's radio spends). */
export function serializationMs(bytes: number, bandwidthMbps: number): number {
  if (bandwidthMbps === Infinity) return 0;
  if (!(bandwidthMbps > 0)) return Infinity;
  return (8 * bytes) / (bandwidthMbps * 1000);
}
