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

  async record(e: EventInput, now = new Date()): Promise<void> {
    const namespace = e.involved.namespace;
    if (!namespace) return;
    const digest = createHash("sha256").update(`${e.involved.uid ?? e.involved.name}/${e.reason}/${e.message}`).digest("hex").slice(0, 10);
    const name = `${e.involved.name}.${digest}`.slice(0, 253);
    const ts = formatTime(now);
    const existing = await this.store.get(EVENT, namespace, name);
    if (existing) {
      const next = { ...existing, count: Number(existing.count ?? 1) + 1, lastTimestamp: ts };
      await this.store.update(EVENT, existing, next as StoredObject & { metadata: StoredObject["metadata"] }).catch((err) => {
        if (!(err instanceof StoreError)) throw err;
      });
      return;
    }
    await this.store
      .create(EVENT, {
        metadata: { name, namespace },
        involvedObject: { apiVersion: "eiaas.io/v1alpha1", ...e.involved },
        reason: e.reason,
        message: e.message,
        type: e.type,
        count: 1,
        firstTimestamp: ts,
        lastTimestamp: ts,
        source: { component: this.component },
      })
      .catch((err) => {
        // Two recorders racing on the same event: one row is enough.
        if (!(err instanceof StoreError && err.reason === "AlreadyExists")) throw err;
      });
  }
}
