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
  walk(value, shape, s, false);
  return s;
}

/** Whether `walk` goes below `value` (so the path of `value` itself is not a leaf of the set). */
function descends(value: unknown, shape: Shape): "object" | "list" | undefined {
  if (shape.type === "object" && isObj(value) && Object.keys(value).length > 0) return "object";
  if (shape.type === "list" && shape.listType !== "atomic" && Array.isArray(value)) return "list";
  return undefined;
}

/**
 * Adds the paths `value` sets below `node` (the node of its own path). `self`: whether that path
 * can be a member itself — not at the root, nor for a keyed-list item's fields (the item is).
 */
function walk(value: unknown, shape: Shape, node: FieldSet, self: boolean): void {
  const kind = descends(value, shape);
  if (kind === "object") {
    for (const [k, v] of Object.entries(value as Obj)) walk(v, fieldShape(shape, k), child(node, `f:${k}`), true);
    return;
  }
  if (kind === "list") {
    const list = shape as Extract<Shape, { type: "list" }>;
    const items = value as unknown[];
    for (const item of items) {
      const pe = itemElement(list, item);
      if (pe === undefined) continue;
      const at = child(node, pe);
      at.member = true;
      if (list.listType === "map") walk(item, list.item, at, false);
    }
    // An empty set or keyed list sets nothing (as upstream): only its items are anyone's.
    return;
  }
  if (self) node.member = true;
}

function child(node: FieldSet, pe: PathElement): FieldSet {
  let next = node.children.get(pe);
  if (!next) node.children.set(pe, (next = new FieldSet()));
  return next;
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
 * Exactly: of the paths either value sets ({@link toFieldSet}), those whose values ({@link valueAt})
 * are not deeply equal — found in one walk of both values, as this runs on every write.
 */
export function changedPaths(before: unknown, after: unknown, shape: Shape): FieldSet {
  const out = new FieldSet();
  diff(before, after, true, true, shape, out, false);
  return out;
}

/**
 * Adds to `node` (the node of this path) the changed paths at and below it. `x`/`y` are the values
 * at this path (undefined where there is none); `inX`/`inY` whether the walk of before/after
 * reaches this path at all (a value's set only has paths where the value has something).
 */
function diff(x: unknown, y: unknown, inX: boolean, inY: boolean, shape: Shape, node: FieldSet, self: boolean): void {
  const kx = inX ? descends(x, shape) : undefined;
  const ky = inY ? descends(y, shape) : undefined;
  // This path is in a value's set when the walk stops here (a leaf; a set or keyed list, even
  // empty, is not one: only its items are).
  const leafX = inX && kx === undefined;
  const leafY = inY && ky === undefined;
  const here = self && (leafX || leafY);
  if (here && !isDeepStrictEqual(x, y)) node.member = true;
  if (kx === "object" || ky === "object") {
    const ox = isObj(x) ? x : undefined;
    const oy = isObj(y) ? y : undefined;
    const keys = new Set([...(kx === "object" ? Object.keys(ox!) : []), ...(ky === "object" ? Object.keys(oy!) : [])]);
    for (const k of keys) {
      const vx = ox && Object.hasOwn(ox, k) ? ox[k] : undefined;
      const vy = oy && Object.hasOwn(oy, k) ? oy[k] : undefined;
      const sub = new FieldSet();
      diff(vx, vy, kx === "object" && Object.hasOwn(ox!, k), ky === "object" && Object.hasOwn(oy!, k), fieldShape(shape, k), sub, true);
      if (!sub.isEmpty()) node.children.set(`f:${k}`, sub);
    }
  }
  if (kx === "list" || ky === "list") {
    const list = shape as Extract<Shape, { type: "list" }>;
    const ix = kx === "list" ? itemsByElement(list, x as unknown[]) : new Map<PathElement, unknown[]>();
    const iy = ky === "list" ? itemsByElement(list, y as unknown[]) : new Map<PathElement, unknown[]>();
    for (const pe of new Set([...ix.keys(), ...iy.keys()])) {
      const xs = ix.get(pe) ?? [];
      const ys = iy.get(pe) ?? [];
      const sub = new FieldSet();
      if (!pe.startsWith("k:")) {
        if (!isDeepStrictEqual(xs[0], ys[0])) sub.member = true;
      } else {
        if ((xs.length === 0) !== (ys.length === 0)) sub.member = true;
        if (xs.length <= 1 && ys.length <= 1) diff(xs[0], ys[0], xs.length > 0, ys.length > 0, list.item, sub, false);
        else duplicatedItems(xs, ys, list.item, sub);
      }
      if (!sub.isEmpty()) node.children.set(pe, sub);
    }
  }
}

/** A list's items by path element, in order (a keyed list may hold an element twice). */
function itemsByElement(list: Extract<Shape, { type: "list" }>, items: readonly unknown[]): Map<PathElement, unknown[]> {
  const out = new Map<PathElement, unknown[]>();
  for (const item of items) {
    const pe = itemElement(list, item);
    if (pe === undefined) continue;
    const same = out.get(pe);
    if (same) same.push(item);
    else out.set(pe, [item]);
  }
  return out;
}

/**
 * A keyed item that appears more than once on a side: its paths are every copy's, its values the
 * first copy's (as {@link valueAt} reads them). Rare, so spelled out as the definition.
 */
function duplicatedItems(xs: readonly unknown[], ys: readonly unknown[], shape: Shape, node: FieldSet): void {
  const all = new FieldSet();
  for (const item of [...xs, ...ys]) walk(item, shape, all, false);
  for (const p of all.paths()) {
    if (!isDeepStrictEqual(valueAt(xs[0], shape, p), valueAt(ys[0], shape, p))) node.insert(p);
  }
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
