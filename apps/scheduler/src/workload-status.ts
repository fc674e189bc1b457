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

/** Key-order-insensitive equality: JSONB hands keys back in its own order, not the writer's. */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
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
