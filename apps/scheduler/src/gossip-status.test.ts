import { describe, expect, it } from "vitest";
import type { StoredObject } from "@eiaas/db";
import { combineGossip } from "./gossip-status.js";

const round = (r: number, o: Record<string, unknown> = {}) => ({
  round: r,
  tau: 5,
  loss: 1 / r,
  testLoss: 1.2 / r,
  accuracy: 0.1 * r,
  bytesUp: 100,
  bytesDown: 90,
  wallSeconds: 0.1 * r,
  energyJoules: 1,
  participants: 3,
  ...o,
});
const peer = (node: string, history: any[], o: Record<string, unknown> = {}) =>
  ({
    kind: "Task",
    metadata: { name: `gj-${node}` },
    spec: { role: "participant", nodeName: node },
    status: {
      phase: "Running",
      training: { round: history[history.length - 1]?.round ?? 0, bytesUp: 100 * history.length, bytesDown: 90 * history.length, budgetUsedSeconds: history.length, history, ...o },
    },
  }) as unknown as StoredObject;

describe("combineGossip (a gossip job's KPIs from its peers' reports)", () => {
  it("merges the peers' rounds: means of loss and accuracy, sums of bytes and energy, the slowest wall time, who was left out", () => {
    const t = combineGossip([peer("a", [round(1), round(2, { missed: ["c"], participants: 2 })]), peer("b", [round(1, { loss: 0.5, accuracy: 0.3 }), round(2), round(3)]), peer("c", [round(1)])])!;
    expect(t.round).toBe(3);
    expect(t.history.map((h: any) => [h.round, h.participants])).toEqual([
      [1, 3],
      [2, 2],
      [3, 1],
    ]);
    expect(t.history[0]).toMatchObject({ loss: round6((1 + 0.5 + 1) / 3), accuracy: round6((0.1 + 0.3 + 0.1) / 3), bytesUp: 300, bytesDown: 270, energyJoules: 3, wallSeconds: 0.1 });
    expect(t.history[1]).toMatchObject({ missed: ["c"], wallSeconds: 0.2 });
    expect(t.history[1].missed).toEqual(["c"]);
    expect(t).toMatchObject({ bytesUp: 600, bytesDown: 540, budgetUsedSeconds: 3, loss: t.history[2].loss });
    expect(t.stoppedBecause).toBeUndefined();
  });

  it("has stopped once every peer has; a node's furthest report counts (a re-planned peer replaces its predecessor); aggregators and other roles are not peers", () => {
    const old = peer("a", [round(1)]);
    const t = combineGossip([old, peer("a", [round(1), round(2)], { stoppedBecause: "RoundsDone" }), peer("b", [round(1), round(2)], { stoppedBecause: "RoundsDone" })])!;
    expect(t.history.map((h: any) => h.participants)).toEqual([2, 2]);
    expect(t.stoppedBecause).toBe("RoundsDone");
    expect(combineGossip([{ ...old, spec: { role: "aggregator", nodeName: "a" } } as unknown as StoredObject])).toBeUndefined();
  });
});

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
