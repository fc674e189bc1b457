import type { Snapshot } from "../snapshot/snapshot.js";

/**
 * A tenant's dominant resource share (DRF): the largest of its usage / fleet capacity over cpu,
 * memory and gpu. 0 for an unknown tenant or an empty fleet.
 */
export function dominantShare(snapshot: Snapshot, tenant: string): number {
  const u = snapshot.usageOf(tenant);
  const c = snapshot.totalCapacity;
  let share = 0;
  if (c.cpu > 0) share = Math.max(share, u.cpu / c.cpu);
  if (c.memoryMiB > 0) share = Math.max(share, u.memoryMiB / c.memoryMiB);
  if (c.gpu > 0) share = Math.max(share, u.gpu / c.gpu);
  return share;
}

/** Dominant share divided by the tenant's fair-share weight (default 1): what the queue orders by. */
export function weightedDominantShare(snapshot: Snapshot, tenant: string): number {
  return dominantShare(snapshot, tenant) / (snapshot.tenant(tenant)?.weight ?? 1);
}

/** A pending workload in the scheduling queue. */
export interface QueueItem {
  /** Tenant. */
  namespace: string;
  name: string;
  /** Default "". Only a tie-break. */
  kind?: string;
  /** Default 0; capped at the tenant's maxPriority (else the snapshot's default cap). */
  priority?: number;
  /** ms since the epoch, or an RFC 3339 timestamp; older first. */
  createdAt?: number | string;
}

/**
 * The priority a workload or task counts with everywhere (queue order, its tasks, preemption):
 * its own, capped at its tenant's `maxPriority`, else at the snapshot's default cap — so an object
 * stored with a priority above its tenant's cap (before the cap existed, or was lowered) gains
 * nothing from it.
 */
export function effectivePriority(snapshot: Snapshot, item: Pick<QueueItem, "namespace" | "priority">): number {
  const p = item.priority ?? 0;
  const max = snapshot.priorityCap(item.namespace);
  return max !== undefined && p > max ? max : p;
}

/**
 * Orders the queue (design.md §5): priority (higher first), then weighted dominant-resource share of
 * the tenant (lower first), then creation time (older first), then namespace, kind and name.
 * Shares are read from the snapshot as it is now; re-order after reserving to keep them fresh.
 */
export function orderQueue<T extends QueueItem>(snapshot: Snapshot, items: readonly T[]): T[] {
  const shares = new Map<string, number>();
  const share = (ns: string) => {
    let s = shares.get(ns);
    if (s === undefined) {
      s = weightedDominantShare(snapshot, ns);
      shares.set(ns, s);
    }
    return s;
  };
  const keyed = items.map((item) => ({
    item,
    priority: effectivePriority(snapshot, item),
    share: share(item.namespace),
    created: toMs(item.createdAt),
  }));
  keyed.sort(
    (a, b) =>
      b.priority - a.priority || a.share - b.share || a.created - b.created || cmp(a.item.namespace, b.item.namespace) || cmp(a.item.kind ?? "", b.item.kind ?? "") || cmp(a.item.name, b.item.name),
  );
  return keyed.map((k) => k.item);
}

function toMs(t: number | string | undefined): number {
  if (typeof t === "number") return t;
  if (typeof t === "string") {
    const ms = Date.parse(t);
    return Number.isFinite(ms) ? ms : 0;
  }
  return 0;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
