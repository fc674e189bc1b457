/**
 * The gossip peer graph (design.md §5): participants sorted by name form a ring; with 4 or more, each
 * node i < ⌊n/2⌋ also gets a chord to i + ⌊n/2⌋. The ring keeps it connected, each node has at
 * most 3 peers (2 ring + ≤ 1 chord), and the same names always give the same graph. Peer lists
 * are sorted by name.
 */
export function gossipPeers(participants: readonly string[]): Record<string, string[]> {
  const names = [...new Set(participants)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const n = names.length;
  const peers = names.map(() => new Set<number>());
  const link = (a: number, b: number) => {
    if (a === b) return;
    peers[a]!.add(b);
    peers[b]!.add(a);
  };
  for (let i = 0; i < n && n > 1; i++) link(i, (i + 1) % n);
  if (n >= 4) {
    const half = Math.floor(n / 2);
    for (let i = 0; i < half; i++) link(i, i + half);
  }
  const out: Record<string, string[]> = {};
  names.forEach((name, i) => {
    out[name] = [...peers[i]!].sort((a, b) => a - b).map((k) => names[k]!);
  });
  return out;
}
