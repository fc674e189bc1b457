// Values against shapes: the field set a value sets, what changed between two values, the merge
// of an applied configuration into a live object, and the removal of fields. Pure.
import { isDeepStrictEqual } from "node:util";
import { FieldSet, type PathElement } from "./fieldset.js";
import { fieldShape, type Shape } from "./shape.js";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** The path element of a list item: `k:{keys}` in a keyed list, `v:value` in a set, else none (atomic). */
export function itemElement(shape: Extract<Shape, { type: "list" }>, item: unknown): PathElement | undefined {
  if (shape.listType === "set") return `v:${JSON.stringify(item)}`;
  if (shape.listType === "map" && isObj(item)) {
    const keys: Obj = {};
    for (const k of [...shape.keys].sort()) if (item[k] !== undefined) keys[k] = item[k];
    return `k:${JSON.stringify(keys)}`;
  }
  return undefined;
}

/**
 * The paths `value` sets: every leaf (scalars, atomic lists, empty objects), every item of a
 * keyed list (a member, with its fields below it) and of a set (an empty one sets nothing).
 */
export function toFieldSet(value: unknown, shape: Shape): FieldSet {
  const s = new FieldSet();
  walk(value, shape, [], (p) => s.insert(p));
  return s;
}

function walk(value: unknown, shape: Shape, path: PathElement[], add: (p: PathElement[]) => void): void {
  if (shape.type === "object" && isObj(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) walk(v, fieldShape(shape, k), [...path, `f:${k}`], add);
    return;
  }
  if (shape.type === "list" && shape.listType !== "atomic" && Array.isArray(value)) {
    for (const item of value) {
      const pe = itemElement(shape, item);
      if (pe === undefined) continue;
      add([...path, pe]);
      if (shape.listType === "map") walk(item, shape.item, [...path, pe], (p) => (p.length > path.length + 1 ? add(p) : undefined));
    }
    // An empty set or keyed list sets nothing (as upstream): only its items are anyone's.
    return;
  }
  if (path.length > 0) add(path);
}

/** The value at `path` (undefined where there is none). */
export function valueAt(value: unknown, shape: Shape, path: readonly PathElement[]): unknown {
  let cur = value;
  let s = shape;
  for (const pe of path) {
    if (pe.startsWith("f:")) {
      if (!isObj(cur)) return undefined;
      const key = pe.slice(2);
      cur = Object.hasOwn(cur, key) ? cur[key] : undefined;
      s = fieldShape(s, key);
    } else {
      if (!Array.isArray(cur) || s.type !== "list") return undefined;
      const list = s;
      cur = cur.find((item) => itemElement(list, item) === pe);
      s = list.item;
    }
  }
  return cur;
}

/**
 * The paths whose values differ between `before` and `after`: leaves that changed, appeared or
 * went; an item of a keyed list only when it appeared or went (a change inside it is its fields').
 */
export function changedPaths(before: unknown, after: unknown, shape: Shape): FieldSet {
  const a = toFieldSet(before, shape);
  const b = toFieldSet(after, shape);
  const out = new FieldSet();
  for (const p of a.union(b).paths()) {
    const x = valueAt(before, shape, p);
    const y = valueAt(after, shape, p);
    const keyedItem = p[p.length - 1]!.startsWith("k:");
    if (keyedItem ? (x === undefined) !== (y === undefined) : !isDeepStrictEqual(x, y)) out.insert(p);
  }
  return out;
}

/**
 * `applied` merged into `live`: objects key by key, keyed lists item by item (new items after the
 * live ones), sets by value (union), anything else replaced by the applied value.
 */
export function mergeApplied(live: unknown, applied: unknown, shape: Shape): unknown {
  if (shape.type === "object" && isObj(applied)) {
    const out: Obj = isObj(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) out[k] = mergeApplied(Object.hasOwn(out, k) ? out[k] : undefined, v, fieldShape(shape, k));
    return out;
  }
  if (shape.type === "list" && shape.listType !== "atomic" && Array.isArray(applied)) {
    const out = Array.isArray(live) ? [...live] : [];
    for (const item of applied) {
      const pe = itemElement(shape, item);
      const i = out.findIndex((x) => itemElement(shape, x) === pe);
      if (i < 0) out.push(item);
      else if (shape.listType === "map") out[i] = mergeApplied(out[i], item, shape.item);
    }
    return out;
  }
  return applied;
}

/** `value` without the paths of `remove` (keyed-list and set items go whole). */
export function removePaths(value: unknown, shape: Shape, remove: FieldSet): unknown {
  if (remove.member) return undefined;
  if (shape.type === "object" && isObj(value)) {
    const out: Obj = { ...value };
    for (const [pe, sub] of remove.children) {
      const key = pe.slice(2);
      if (!pe.startsWith("f:") || !Object.hasOwn(out, key)) continue;
      const next = removePaths(out[key], fieldShape(shape, key), sub);
      if (next === undefined) delete out[key];
      else out[key] = next;
    }
    return out;
  }
  if (shape.type === "list" && Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const pe = itemElement(shape, item);
      const sub = pe !== undefined ? remove.children.get(pe) : undefined;
      if (!sub) out.push(item);
      else if (!sub.member) out.push(removePaths(item, shape.item, sub));
    }
    // A list whose every item was removed goes with them (its items were all someone's).
    return out.length === 0 && value.length > 0 ? undefined : out;
  }
  return value;
}
