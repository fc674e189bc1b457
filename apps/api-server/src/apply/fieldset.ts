// Sets of field paths, as structured-merge-diff keeps them for server-side apply, and their
// FieldsV1 form (`metadata.managedFields[].fieldsV1`). Pure: no I/O, no schema.

/**
 * One step of a path, in FieldsV1 spelling: `f:<name>` a field (or a map key), `k:<json object>` the
 * item of a keyed list (its key fields), `v:<json>` the item of a set-list.
 */
export type PathElement = string;

/**
 * A set of paths as a tree: `member` says the path ending here is in the set; `children` continue
 * it. FieldsV1 writes a member with children as `".": {}` beside them, one without as `{}`.
 */
export class FieldSet {
  member = false;
  readonly children = new Map<PathElement, FieldSet>();

  static of(paths: Iterable<PathElement[]>): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  insert(path: readonly PathElement[]): void {
    let node: FieldSet = this;
    for (const pe of path) {
      let next = node.children.get(pe);
      if (!next) node.children.set(pe, (next = new FieldSet()));
      node = next;
    }
    node.member = true;
  }

  has(path: readonly PathElement[]): boolean {
    let node: FieldSet | undefined = this;
    for (const pe of path) node = node?.children.get(pe);
    return node?.member ?? false;
  }

  /** Whether the set holds `path` or any path below it. */
  hasAtOrUnder(path: readonly PathElement[]): boolean {
    let node: FieldSet | undefined = this;
    for (const pe of path) node = node?.children.get(pe);
    return node !== undefined && !node.isEmpty();
  }

  /** Every member path, depth first. */
  *paths(prefix: PathElement[] = []): Generator<PathElement[]> {
    if (this.member) yield prefix;
    for (const [pe, child] of this.children) yield* child.paths([...prefix, pe]);
  }

  isEmpty(): boolean {
    if (this.member) return false;
    for (const c of this.children.values()) if (!c.isEmpty()) return false;
    return true;
  }

  // The set operations walk both trees at once (no path lists: they run on every write) and
  // build new trees that share no node with their inputs, so inserting into a result is safe.

  union(other: FieldSet): FieldSet {
    const out = this.clone();
    merge(out, other);
    return out;
  }

  difference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    out.member = this.member && !other.member;
    for (const [pe, child] of this.children) {
      const theirs = other.children.get(pe);
      const rest = theirs ? child.difference(theirs) : child.clone();
      if (!rest.isEmpty()) out.children.set(pe, rest);
    }
    return out;
  }

  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet();
    out.member = this.member && other.member;
    for (const [pe, child] of this.children) {
      const theirs = other.children.get(pe);
      if (!theirs) continue;
      const both = child.intersection(theirs);
      if (!both.isEmpty()) out.children.set(pe, both);
    }
    return out;
  }

  clone(): FieldSet {
    const out = new FieldSet();
    out.member = this.member;
    for (const [pe, child] of this.children) out.children.set(pe, child.clone());
    return out;
  }

  /** FieldsV1 JSON (`{"f:spec":{"f:replicas":{}}}`). */
  toFieldsV1(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (this.member && this.children.size > 0) out["."] = {};
    for (const [pe, child] of this.children) if (!child.isEmpty()) out[pe] = child.toFieldsV1();
    return out;
  }

  /** Reads FieldsV1 JSON; anything else (a client's hostile value) is an Error saying where. */
  static fromFieldsV1(v: unknown, at = "fieldsV1"): FieldSet {
    const s = new FieldSet();
    fill(s, v, at, true);
    return s;
  }
}

/** Adds every member of `from` to `into`. */
function merge(into: FieldSet, from: FieldSet): void {
  if (from.member) into.member = true;
  for (const [pe, child] of from.children) {
    let mine = into.children.get(pe);
    if (!mine) into.children.set(pe, (mine = new FieldSet()));
    merge(mine, child);
  }
}

function fill(node: FieldSet, v: unknown, at: string, root: boolean): void {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${at}: must be an object`);
  const entries = Object.entries(v);
  if (!root && entries.length === 0) node.member = true;
  for (const [k, child] of entries) {
    if (k === ".") {
      node.member = true;
      continue;
    }
    if (!/^[fkv]:/.test(k)) throw new Error(`${at}: invalid path element ${JSON.stringify(k)} (f:, k:, v: or ".")`);
    const next = new FieldSet();
    node.children.set(k, next);
    fill(next, child, `${at}.${k}`, false);
  }
}

/** A path as kube-apiserver prints it in conflicts: `.spec.slo.latencyMs`, `.spec.items[name="a"]`, `.metadata.finalizers[="x"]`. */
export function formatPath(path: readonly PathElement[]): string {
  return path
    .map((pe) => {
      const body = pe.slice(2);
      if (pe.startsWith("f:")) return `.${body}`;
      if (pe.startsWith("v:")) return `[=${body}]`;
      const keys = JSON.parse(body) as Record<string, unknown>;
      return `[${Object.entries(keys)
        .map(([k, val]) => `${k}=${JSON.stringify(val)}`)
        .join(",")}]`;
    })
    .join("");
}
