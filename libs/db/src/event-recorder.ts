import { createHash } from "node:crypto";
import { kindInfo } from "@eiaas/api";
import { formatTime, type StoredObject } from "./codec.js";
import { StoreError } from "./errors.js";
import type { ObjectStore } from "./object-store.js";

const EVENT = kindInfo("Event");

export interface EventInput {
  involved: { kind: string; name: string; namespace?: string; uid?: string };
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/**
 * Records Events as Kubernetes' recorder does: the same (object, reason, message) again bumps
 * `count` and `lastTimestamp` instead of adding a row. Events of cluster-scoped objects go to the
 * `default`-less namespace of their workload when given, else are skipped (there is no namespace
 * for them to live in).
 */
export class EventRecorder {
  constructor(
    private readonly store: ObjectStore,
    private readonly component: string,
  ) {}

  /** The Event's name: the involved object's name and a digest of (object, reason, message). */
  private nameOf(e: EventInput): string {
    const digest = createHash("sha256")
      .update(`${e.involved.uid ?? e.involved.name}/${e.reason}/${e.message}`)
      .digest("hex")
      .slice(0, 10);
    return `${e.involved.name}.${digest}`.slice(0, 253);
  }

  private newEvent(e: EventInput, name: string, ts: string, count: number) {
    return {
      metadata: { name, namespace: e.involved.namespace! },
      involvedObject: { apiVersion: "eiaas.io/v1alpha1", ...e.involved },
      reason: e.reason,
      message: e.message,
      type: e.type,
      count,
      firstTimestamp: ts,
      lastTimestamp: ts,
      source: { component: this.component },
    };
  }

  /**
   * Records many Events in one read and one transaction (a scheduling cycle that placed hundreds
   * of workloads), with the same aggregation as {@link record}. Falls back to one at a time when
   * the batch loses a race with another recorder.
   */
  async recordMany(inputs: readonly EventInput[], now = new Date()): Promise<void> {
    const ts = formatTime(now);
    const byKey = new Map<string, { e: EventInput; name: string; count: number }>();
    for (const e of inputs) {
      if (!e.involved.namespace) continue;
      const name = this.nameOf(e);
      const key = `${e.involved.namespace}/${name}`;
      const seen = byKey.get(key);
      if (seen) seen.count++;
      else byKey.set(key, { e, name, count: 1 });
    }
    if (byKey.size === 0) return;
    if (byKey.size === 1) {
      const only = [...byKey.values()][0]!;
      for (let i = 0; i < only.count; i++) await this.record(only.e, now);
      return;
    }
    const items = [...byKey.values()];
    try {
      const found = await this.store.getMany(
        EVENT,
        items.map((i) => ({ namespace: i.e.involved.namespace!, name: i.name })),
      );
      const existing = new Map(found.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
      await this.store.applyBatch(
        items.map((i) => {
          const old = existing.get(`${i.e.involved.namespace}/${i.name}`);
          if (old) {
            const next = { ...old, count: Number(old.count ?? 1) + i.count, lastTimestamp: ts } as StoredObject;
            return { type: "update" as const, kind: EVENT, object: next, expectedResourceVersion: old.metadata.resourceVersion };
          }
          return { type: "create" as const, kind: EVENT, object: this.store.prepareCreate(EVENT, this.newEvent(i.e, i.name, ts, i.count) as any, now) };
        }),
      );
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      // Another recorder wrote one of them meanwhile: one at a time, each aggregating.
      for (const i of items) for (let k = 0; k < i.count; k++) await this.record(i.e, now);
    }
  }

  async record(e: EventInput, now = new Date()): Promise<void> {
    const namespace = e.involved.namespace;
    if (!namespace) return;
    const name = this.nameOf(e);
    const ts = formatTime(now);
    const existing = await this.store.get(EVENT, namespace, name);
    if (existing) {
      const next = { ...existing, count: Number(existing.count ?? 1) + 1, lastTimestamp: ts };
      await this.store.update(EVENT, existing, next as StoredObject & { metadata: StoredObject["metadata"] }).catch((err) => {
        if (!(err instanceof StoreError)) throw err;
      });
      return;
    }
    await this.store.create(EVENT, this.newEvent(e, name, ts, 1) as any).catch((err) => {
      // Two recorders racing on the same event: one row is enough.
      if (!(err instanceof StoreError && err.reason === "AlreadyExists")) throw err;
    });
  }
}
