// EventRecorder.recordMany: the batched path a scheduling cycle uses aggregates exactly as record().
import { expect, it } from "vitest";
import { kindInfo } from "@eiaas/api";
import { useTestStore } from "@eiaas/testing";
import { EventRecorder, type EventInput } from "./event-recorder.js";

const EVENT = kindInfo("Event");
const fx = useTestStore({ poolSize: 3 });

const ev = (name: string, reason = "Scheduled", message = "placed"): EventInput => ({
  involved: { kind: "InferenceService", name, namespace: "acme", uid: `uid-${name}` },
  type: "Normal",
  reason,
  message,
});
const events = async () => (await fx.store.list(EVENT, { namespace: "acme" })).items.map((e: any) => [e.involvedObject.name, e.reason, e.count]).sort();

it("writes a batch of Events at once and aggregates repeats like record()", async () => {
  const recorder = new EventRecorder(fx.store, "scheduler");
  await recorder.recordMany([ev("a"), ev("b"), ev("c"), ev("a")], new Date("2026-01-01T00:00:00Z"));
  expect(await events()).toEqual([
    ["a", "Scheduled", 2],
    ["b", "Scheduled", 1],
    ["c", "Scheduled", 1],
  ]);
  // Existing ones are bumped, new ones created, in the same batch; record() agrees.
  await recorder.recordMany([ev("a"), ev("d"), ev("b", "FailedScheduling", "no room")], new Date("2026-01-01T00:01:00Z"));
  await recorder.record(ev("c"));
  expect(await events()).toEqual([
    ["a", "Scheduled", 3],
    ["b", "FailedScheduling", 1],
    ["b", "Scheduled", 1],
    ["c", "Scheduled", 2],
    ["d", "Scheduled", 1],
  ]);
  const a = (await fx.store.list(EVENT, { namespace: "acme" })).items.find((e: any) => e.involvedObject.name === "a" && e.reason === "Scheduled") as any;
  expect(a.firstTimestamp).toBe("2026-01-01T00:00:00Z");
  expect(a.lastTimestamp).toBe("2026-01-01T00:01:00Z");
  expect(a.source).toEqual({ component: "scheduler" });
  await recorder.recordMany([]);
});
