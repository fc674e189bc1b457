import { describe, expect, it } from "vitest";
import { createLogger } from "@eiaas/telemetry";
import type { ScheduleItem } from "@eiaas/queue";
import { ScheduleHints } from "./schedule-hints.js";

const item = (name: string): ScheduleItem => ({ kind: "InferenceService", namespace: "acme", name, uid: `uid-${name}`, reason: "create" }) as ScheduleItem;
const quiet = createLogger({ name: "test", level: "silent" });

describe("ScheduleHints", () => {
  it("turns hints that arrive together into one job naming the newest write, later ones into the next", async () => {
    const calls: ScheduleItem[][] = [];
    const hints = new ScheduleHints({ enqueueSchedule: async (items) => void calls.push([...items]) }, quiet, 20);
    hints.add(item("a"));
    hints.add(item("b"));
    hints.add(item("c"));
    await expect.poll(() => calls.length).toBe(1);
    expect(calls[0]!.map((i) => i.name)).toEqual(["c"]);
    hints.add(item("d"));
    await hints.flush();
    expect(calls.map((c) => c.map((i) => i.name))).toEqual([["c"], ["d"]]);
  });

  it("survives a queue that fails (hints are only wake-ups)", async () => {
    const hints = new ScheduleHints({ enqueueSchedule: async () => Promise.reject(new Error("redis away")) }, quiet, 1);
    hints.add(item("a"));
    await expect(hints.flush()).resolves.toBeUndefined();
  });
});
