import type { Condition } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { revisionOf } from "./task-factory.js";

/** Sets (or replaces) a condition, keeping lastTransitionTime when the status did not change. */
export function setCondition(conditions: readonly Condition[] | undefined, next: Omit<Condition, "lastTransitionTime">, now: string): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const merged: Condition = { ...next, lastTransitionTime: prev && prev.status === next.status ? (prev.lastTransitionTime ?? now) : now };
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return list;
}

/**
 * Key-order-insensitive equality of JSON values (JSONB hands keys back in its own order, not the
 * writer's); an undefined property equals a missing one. Compares in place: it runs for every
 * changed workload every cycle.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let defined = 0;
  for (const k in x) {
    if (x[k] === undefined) continue;
    defined++;
    if (!sameJson(x[k], y[k])) return false;
  }
  for (const k in y) if (y[k] !== undefined) defined--;
  return defined === 0;
}

export interface OwnedTasks {
  /** Tasks of the workload's current plan revision. */
  current: StoredObject[];
  /** Tasks of earlier revisions (to stop once the current ones run). */
  old: StoredObject[];
}

export function splitByRevision(workload: StoredObject, tasks: readonly StoredObject[]): OwnedTasks {
  const rev = Number(workload.status?.planRevision ?? 0);
  const current: StoredObject[] = [];
  const old: StoredObject[] = [];
  for (const t of tasks) (revisionOf(t) === rev && rev > 0 ? current : old).push(t);
  return { current, old };
}

export const phaseOf = (t: StoredObject): string => t.status?.phase ?? "";
export const isTerminal = (t: StoredObject): boolean => phaseOf(t) === "Succeeded" || phaseOf(t) === "Failed";
