// What an apply removes, and which of its changes can conflict, as structured-merge-diff (kube-
// apiserver's server-side apply) decides them. Pure.
import { FieldSet, type PathElement } from "./fieldset.js";
import { fieldShape, type Shape } from "./shape.js";

/**
 * The fields an apply removes: those the manager's previous apply set (`last`) that no manager owns
 * after this apply (`owned`: every manager's set, the applier's new one included) — upstream's
 * prune, which adds back only what is owned:
 * - a named field of a struct stays while anything under it is owned (its owned parts keep it);
 * - a keyed-list or set item, or a map's key, stays only if it is owned itself: a field inside it
 *   that another manager owns does not keep it (that field goes with the item, as upstream).
 */
export function prunable(last: FieldSet, owned: FieldSet, shape: Shape): FieldSet {
  const out = new FieldSet();
  for (const p of last.paths()) {
    if (owned.has(p)) continue;
    if (isNamedField(shape, p) && owned.hasAtOrUnder(p)) continue;
    out.insert(p);
  }
  return out;
}

/** Whether `path` ends in a field a struct declares (not a map's key, not a list's item). */
function isNamedField(shape: Shape, path: readonly PathElement[]): boolean {
  let s = shape;
  for (let i = 0; i < path.length; i++) {
    const pe = path[i]!;
    if (pe.startsWith("f:")) {
      const key = pe.slice(2);
      if (i === path.length - 1) return s.type === "object" && Object.hasOwn(s.fields, key);
      s = fieldShape(s, key);
    } else {
      if (i === path.length - 1 || s.type !== "list") return false;
      s = s.item;
    }
  }
  return false;
}

/**
 * The changes that conflict with another manager's ownership: what an apply sets or adds, not
 * what it removes (upstream conflicts on Modified and Added only; a removed field simply stops
 * being anyone's).
 */
export function conflicting(changed: FieldSet, before: FieldSet, after: FieldSet): FieldSet {
  const removed = before.difference(after);
  return removed.isEmpty() ? changed : changed.difference(removed);
}
