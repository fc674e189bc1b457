import { TRAINING_HISTORY_ROUNDS } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";

/**
 * A gossip job's KPIs from its peers' reports (pure). There is no aggregator and no global model:
 * each peer reports its own rounds (its local loss, its model's held-out accuracy after mixing,
 * the bytes it pushed and received). A round of the job's history is the peers' reports of that
 * round so far: `loss`, `testLoss` and `accuracy` are their plain means (gossip averages toward the
 * uniform mean of the peers' models, so the objective is the uniform mean of their losses), bytes
 * and energy their sums, `wallSeconds` the slowest, `participants` how many peers reported it and
 * `missed` the neighbours some peer mixed without. The job's round is the furthest peer's; it has
 * stopped once every reporting peer has. Per node the furthest report counts (a re-planned peer
 * replaces its predecessor).
 */
export function combineGossip(tasks: readonly StoredObject[]): Record<string, any> | undefined {
  const byNode = new Map<string, Record<string, any>>();
  for (const t of tasks) {
    const tr = t.spec?.role === "participant" ? t.status?.training : undefined;
    const node = t.spec?.nodeName as string | undefined;
    if (!tr || !node || typeof tr.round !== "number") continue;
    const seen = byNode.get(node);
    if (!seen || tr.round >= seen.round) byNode.set(node, tr);
  }
  if (byNode.size === 0) return undefined;
  const peers = [...byNode.values()];
  const rounds = new Map<number, Array<Record<string, any>>>();
  for (const p of peers) for (const h of p.history ?? []) rounds.set(h.round, [...(rounds.get(h.round) ?? []), h]);
  const history = [...rounds.keys()].sort((a, b) => a - b).map((r) => mergeRound(r, rounds.get(r)!));
  const last = history[history.length - 1];
  const stopped = peers.every((p) => p.stoppedBecause) ? peers[0]!.stoppedBecause : undefined;
  return {
    round: Math.max(...peers.map((p) => p.round)),
    ...(last?.tau !== undefined ? { tau: last.tau } : {}),
    ...(last?.loss !== undefined ? { loss: last.loss } : {}),
    ...(last?.accuracy !== undefined ? { accuracy: last.accuracy } : {}),
    bytesUp: sum(peers.map((p) => p.bytesUp ?? 0)),
    bytesDown: sum(peers.map((p) => p.bytesDown ?? 0)),
    budgetUsedSeconds: Math.max(...peers.map((p) => p.budgetUsedSeconds ?? 0)),
    ...(stopped ? { stoppedBecause: stopped } : {}),
    history: history.slice(-TRAINING_HISTORY_ROUNDS),
  };
}

function mergeRound(round: number, hs: ReadonlyArray<Record<string, any>>): Record<string, any> {
  const mean = (k: string) => {
    const v = hs.map((h) => h[k]).filter((x): x is number => typeof x === "number");
    return v.length ? { [k]: Math.round((sum(v) / v.length) * 1e6) / 1e6 } : {};
  };
  const missed = [...new Set(hs.flatMap((h) => h.missed ?? []))].sort();
  return {
    round,
    tau: Math.max(...hs.map((h) => h.tau ?? 0)),
    ...mean("loss"),
    ...mean("testLoss"),
    ...mean("accuracy"),
    bytesUp: sum(hs.map((h) => h.bytesUp ?? 0)),
    bytesDown: sum(hs.map((h) => h.bytesDown ?? 0)),
    wallSeconds: Math.max(...hs.map((h) => h.wallSeconds ?? 0)),
    energyJoules: Math.round(sum(hs.map((h) => h.energyJoules ?? 0)) * 1e6) / 1e6,
    participants: hs.length,
    ...(missed.length ? { missed } : {}),
  };
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
