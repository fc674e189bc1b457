// Events expire an hour (the TTL) after they last happened, as in Kubernetes; watchers see them go.
import { describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { createLogger } from "@eiaas/telemetry";
import { useTestStore } from "@eiaas/testing";
import { readBacklog } from "@eiaas/db";
import { EventCollector } from "./event-collector.js";

const EVENT = kindInfo("Event");
const fx = useTestStore();

const event = (name: string, body: Record<string, unknown>) =>
  fx.store.create(EVENT, {
    apiVersion: API_VERSION,
    kind: "Event",
    metadata: { name, namespace: "acme" },
    involvedObject: { kind: "InferenceService", name: "s", namespace: "acme" },
    reason: "Tested",
    message: name,
    ...body,
  } as any);

describe("EventCollector", () => {
  it("deletes Events last seen before the TTL, keeps the rest, and the watch log records each deletion", async () => {
    const now = new Date("2026-11-26T12:00:00Z");
    await event("old", { firstTimestamp: "2026-11-26T09:00:00Z", lastTimestamp: "2026-11-26T10:30:00Z" });
    // First seen long ago but repeated recently: still alive.
    await event("renewed", { firstTimestamp: "2026-11-26T08:00:00Z", lastTimestamp: "2026-11-26T11:30:00Z" });
    await event("first-only-old", { firstTimestamp: "2026-11-26T10:00:00Z" });
    await event("no-times-old", {});
    await event("no-times-new", {});
    await fx.db.pool.query(`UPDATE events SET creation_timestamp = $1 WHERE name = 'no-times-old'`, [new Date("2026-11-26T10:00:00Z")]);
    await fx.db.pool.query(`UPDATE events SET creation_timestamp = $1 WHERE name = 'no-times-new'`, [new Date("2026-11-26T11:59:00Z")]);
    for (let i = 0; i < 3; i++) await event(`bulk-${i}`, { lastTimestamp: "2026-11-25T00:00:00Z" });

    const collector = new EventCollector({ store: fx.store, pool: fx.db.pool, logger: createLogger({ name: "t", level: "silent" }), now: () => now });
    expect(await collector.pass()).toBe(6);
    const left = (await fx.store.list(EVENT, { namespace: "acme" })).items.map((e) => e.metadata.name).sort();
    expect(left).toEqual(["no-times-new", "renewed"]);
    expect(await collector.pass()).toBe(0);

    const log = await readBacklog(fx.db.pool, 0n, "Event", 1n << 62n);
    expect(
      log
        .filter((e) => e.type === "DELETED")
        .map((e) => e.name)
        .sort(),
    ).toEqual(["bulk-0", "bulk-1", "bulk-2", "first-only-old", "no-times-old", "old"]);
  });
});
