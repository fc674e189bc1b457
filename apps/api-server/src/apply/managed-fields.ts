// Field ownership (`metadata.managedFields`) as kube-apiserver keeps it for server-side apply:
// who set which fields, by `Apply` (their applied configuration) or `Update` (any other write).
// Pure: the caller reads the object, calls these, validates and writes the result.
import type { ManagedFieldsEntry } from "@eiaas/api";
import { FieldSet, formatPath, type PathElement } from "./fieldset.js";
import { changedPaths, mergeApplied, removePaths, toFieldSet } from "./merge.js";
import { conflicting, prunable } from "./prune.js";
import type { Shape } from "./shape.js";

export type { ManagedFieldsEntry };

/** An entry with its set read. */
interface Owned {
  entry: ManagedFieldsEntry;
  set: FieldSet;
}

/** A field another manager owns and an apply would change. */
export interface ApplyConflict {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  /** As kube-apiserver prints it: `.spec.slo.latencyMs`. */
  field: string;
  path: PathElement[];
}

export type ApplyResult = { ok: true; object: Record<string, unknown>; managedFields: ManagedFieldsEntry[] } | { ok: false; conflicts: ApplyConflict[] };

export interface ApplyInput {
  /** The object as stored (no `managedFields` in it), or undefined when the apply creates it. */
  live: Record<string, unknown> | undefined;
  /** Its `metadata.managedFields` as stored. */
  managed: readonly ManagedFieldsEntry[];
  /** The applied configuration, reduced to the fields a manager can own (see `ownedPart`). */
  applied: Record<string, unknown>;
  manager: string;
  force: boolean;
  apiVersion: string;
  shape: Shape;
  /** RFC 3339, for the entry. */
  now: string;
}

function read(managed: readonly ManagedFieldsEntry[]): Owned[] {
  return managed.map((entry) => ({ entry, set: FieldSet.fromFieldsV1(entry.fieldsV1) }));
}

function write(owned: readonly Owned[]): ManagedFieldsEntry[] {
  // A manager that owns nothing any more is dropped, as upstream.
  return owned.filter((o) => !o.set.isEmpty()).map((o) => ({ ...o.entry, fieldsV1: o.set.toFieldsV1() }));
}

/**
 * Server-side apply: `applied` merged into `live`; the fields the manager applied before and no
 * longer does are removed unless a manager owns them (`prunable`); a field another manager owns
 * that the apply would set or add (not remove) is a conflict — unless `force`, which takes it over.
 */
export function applyConfiguration(input: ApplyInput): ApplyResult {
  const { live, manager, shape } = input;
  const owned = read(input.managed);
  const mine = owned.find((o) => o.entry.manager === manager && o.entry.operation === "Apply" && !o.entry.subresource);
  const others = owned.filter((o) => o !== mine);
  const applySet = toFieldSet(input.applied, shape);
  let merged = mergeApplied(live ?? {}, input.applied, shape) as Record<string, unknown>;
  if (mine) {
    const dropped = prunable(
      mine.set,
      others.reduce((acc, o) => acc.union(o.set), applySet),
      shape,
    );
    if (!dropped.isEmpty()) merged = removePaths(merged, shape, dropped) as Record<string, unknown>;
  }
  const changed = changedPaths(live ?? {}, merged, shape);
  const contested = conflicting(changed, toFieldSet(live ?? {}, shape), toFieldSet(merged, shape));
  const conflicts: ApplyConflict[] = [];
  for (const o of others) {
    if (o.entry.manager === manager) continue;
    for (const p of o.set.intersection(contested).paths()) {
      conflicts.push({ manager: o.entry.manager, operation: o.entry.operation, apiVersion: o.entry.apiVersion, field: formatPath(p), path: p });
    }
  }
  if (conflicts.length > 0 && !input.force) return { ok: false, conflicts };
  // Forced, or no conflict: the applier owns what it applied; what it changed is no one else's.
  const after = owned.map((o) => (o === mine ? o : { entry: o.entry, set: o.entry.manager === manager ? o.set.difference(applySet) : o.set.difference(changed) }));
  // The same fields applied again keep their entry (and its time): an apply that changes nothing writes nothing.
  const same = mine !== undefined && mine.set.difference(applySet).isEmpty() && applySet.difference(mine.set).isEmpty() && mine.entry.apiVersion === input.apiVersion;
  const entry: ManagedFieldsEntry = same ? mine.entry : { manager, operation: "Apply", apiVersion: input.apiVersion, time: input.now, fieldsType: "FieldsV1", fieldsV1: {} };
  const i = mine ? owned.indexOf(mine) : -1;
  if (i >= 0) after[i] = { entry, set: applySet };
  else after.push({ entry, set: applySet });
  return { ok: true, object: merged, managedFields: write(after) };
}

/**
 * Any other write (create, update, merge/JSON patch) by `manager`: it owns the fields it changed
 * (an `Update` entry), which no other manager owns any more; fields that went are no one's.
 * Ownership of everything else stays, as upstream (so an apply's fields survive an edit elsewhere).
 */
export function recordUpdate(input: {
  before: Record<string, unknown> | undefined;
  after: Record<string, unknown>;
  managed: readonly ManagedFieldsEntry[];
  manager: string;
  apiVersion: string;
  shape: Shape;
  now: string;
}): ManagedFieldsEntry[] {
  const changed = changedPaths(input.before ?? {}, input.after, input.shape);
  if (changed.isEmpty()) return [...input.managed];
  const entry: ManagedFieldsEntry = { manager: input.manager, operation: "Update", apiVersion: input.apiVersion, time: input.now, fieldsType: "FieldsV1", fieldsV1: {} };
  // A create that sent no managedFields (nearly all of them): the writer owns every field it set.
  if (input.before === undefined && input.managed.length === 0) return write([{ entry, set: changed }]);
  const present = toFieldSet(input.after, input.shape);
  const owned = read(input.managed);
  const i = owned.findIndex((o) => o.entry.manager === input.manager && o.entry.operation === "Update" && !o.entry.subresource);
  // A field that went is in `changed` (its value went from something to nothing): no one's now.
  const rest = owned.filter((_, j) => j !== i).map((o) => ({ entry: o.entry, set: o.set.difference(changed) }));
  const prior = i >= 0 ? owned[i]!.set : new FieldSet();
  const mine = prior.union(changed).intersection(present);
  return write([...rest, { entry, set: mine }]);
}
