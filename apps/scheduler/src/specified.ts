import type { StoredObject } from "@eiaas/db";

/**
 * A stored object with its spec: what the scheduling library's inputs (`EdgeNodeLike`, `TenantLike`,
 * `TaskLike`) require. Every row of the object tables has one (the column is NOT NULL, the API
 * validates it); `StoredObject` leaves it optional because it also types objects being built.
 */
export type Specified = StoredObject & { spec: NonNullable<StoredObject["spec"]> };

export function hasSpec(o: StoredObject): o is Specified {
  return o.spec !== undefined && o.spec !== null;
}

/** `o` as a {@link Specified} object; throws for an object without a spec (a row the scheduler cannot read). */
export function specified(o: StoredObject): Specified {
  if (!hasSpec(o)) throw new Error(`${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name} has no spec`);
  return o;
}
