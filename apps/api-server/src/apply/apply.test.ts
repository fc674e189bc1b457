// Table-driven tests of server-side apply's pure parts: field sets and FieldsV1, shapes from
// OpenAPI list annotations, the merge, conflicts and ownership across Apply and Update.
import { describe, expect, it } from "vitest";
import { FieldSet, formatPath } from "./fieldset.js";
import { applyConfiguration, recordUpdate, type ManagedFieldsEntry } from "./managed-fields.js";
import { changedPaths, mergeApplied, toFieldSet } from "./merge.js";
import { shapeOf, type Shape } from "./shape.js";

const SCHEMA = {
  type: "object",
  properties: {
    metadata: { allOf: [{ $ref: "#/components/schemas/Meta" }] },
    spec: {
      type: "object",
      properties: {
        replicas: { type: "integer" },
        tags: { type: "array", items: { type: "string" }, "x-kubernetes-list-type": "set" },
        args: { type: "array", items: { type: "string" } },
        ports: {
          type: "array",
          "x-kubernetes-list-type": "map",
          "x-kubernetes-list-map-keys": ["name"],
          items: { type: "object", properties: { name: { type: "string" }, port: { type: "integer" }, proto: { type: "string" } } },
        },
        limits: { type: "object", additionalProperties: { type: "integer" } },
      },
    },
  },
};
const COMPONENTS = { Meta: { type: "object", properties: { labels: { type: "object", additionalProperties: { type: "string" } } } } };
const SHAPE: Shape = shapeOf(SCHEMA, COMPONENTS);
const NOW = "2026-12-07T00:00:00Z";
const V = "eiaas.io/v1alpha1";

describe("shapes from OpenAPI", () => {
  it.each([
    ["spec.tags", { type: "list", listType: "set" }],
    ["spec.args", { type: "list", listType: "atomic" }],
    ["spec.ports", { type: "list", listType: "map", keys: ["name"] }],
    ["spec.limits", { type: "object" }],
    ["metadata.labels", { type: "object" }],
  ])("%s", (path, expected) => {
    let s: any = SHAPE;
    for (const k of path.split(".")) s = s.fields[k];
    expect(s).toMatchObject(expected);
  });
});

describe("field sets", () => {
  it.each<[string, unknown, string[]]>([
    ["scalars and maps are leaves by key", { spec: { replicas: 2, limits: { cpu: 1 } } }, [".spec.replicas", ".spec.limits.cpu"]],
    ["an atomic list is one leaf", { spec: { args: ["a", "b"] } }, [".spec.args"]],
    ["a set owns each value", { spec: { tags: ["x", "y"] } }, ['.spec.tags[="x"]', '.spec.tags[="y"]']],
    ["a keyed list owns each item and its fields", { spec: { ports: [{ name: "http", port: 80 }] } }, ['.spec.ports[name="http"]', '.spec.ports[name="http"].name', '.spec.ports[name="http"].port']],
    ["an empty object is a leaf", { metadata: { labels: {} } }, [".metadata.labels"]],
  ])("%s", (_name, value, paths) => {
    expect([...toFieldSet(value, SHAPE).paths()].map(formatPath)).toEqual(paths);
  });

  it("round-trips FieldsV1, with '.' on a member that has children", () => {
    const s = toFieldSet({ spec: { ports: [{ name: "http", port: 80 }] } }, SHAPE);
    const v1 = s.toFieldsV1();
    expect(v1).toEqual({ "f:spec": { "f:ports": { 'k:{"name":"http"}': { ".": {}, "f:name": {}, "f:port": {} } } } });
    expect([...FieldSet.fromFieldsV1(v1).paths()]).toEqual([...s.paths()]);
  });

  it.each([[[]], ["x"], [{ "x:y": {} }], [{ "f:a": [] }]])("refuses FieldsV1 %j", (bad) => {
    expect(() => FieldSet.fromFieldsV1(bad)).toThrow();
  });
});

describe("merge and changes", () => {
  it.each<[string, unknown, unknown, unknown]>([
    ["objects merge", { spec: { replicas: 1, limits: { cpu: 1 } } }, { spec: { limits: { mem: 2 } } }, { spec: { replicas: 1, limits: { cpu: 1, mem: 2 } } }],
    ["atomic lists are replaced", { spec: { args: ["a"] } }, { spec: { args: ["b"] } }, { spec: { args: ["b"] } }],
    ["sets are unions", { spec: { tags: ["a"] } }, { spec: { tags: ["b", "a"] } }, { spec: { tags: ["a", "b"] } }],
    [
      "keyed lists merge by key",
      { spec: { ports: [{ name: "a", port: 1, proto: "tcp" }] } },
      {
        spec: {
          ports: [
            { name: "b", port: 2 },
            { name: "a", port: 9 },
          ],
        },
      },
      {
        spec: {
          ports: [
            { name: "a", port: 9, proto: "tcp" },
            { name: "b", port: 2 },
          ],
        },
      },
    ],
  ])("%s", (_name, live, applied, merged) => {
    expect(mergeApplied(live, applied, SHAPE)).toEqual(merged);
  });

  it("changes: a leaf that changed, appeared or went; a keyed item only when it appeared or went", () => {
    const before = { spec: { replicas: 1, ports: [{ name: "a", port: 1 }], tags: ["x"] } };
    const after = {
      spec: {
        replicas: 2,
        ports: [
          { name: "a", port: 2 },
          { name: "b", port: 3 },
        ],
      },
    };
    expect([...changedPaths(before, after, SHAPE).paths()].map(formatPath).sort()).toEqual(
      ['.spec.ports[name="a"].port', '.spec.ports[name="b"]', '.spec.ports[name="b"].name', '.spec.ports[name="b"].port', ".spec.replicas", '.spec.tags[="x"]'].sort(),
    );
  });
});

const apply = (live: Record<string, unknown> | undefined, managed: ManagedFieldsEntry[], applied: Record<string, unknown>, manager: string, force = false) =>
  applyConfiguration({ live, managed, applied, manager, force, apiVersion: V, shape: SHAPE, now: NOW });
const update = (before: Record<string, unknown>, after: Record<string, unknown>, managed: ManagedFieldsEntry[], manager: string) =>
  recordUpdate({ before, after, managed, manager, apiVersion: V, shape: SHAPE, now: NOW });
const fields = (managed: ManagedFieldsEntry[], manager: string) => [...FieldSet.fromFieldsV1(managed.find((m) => m.manager === manager)?.fieldsV1 ?? {}).paths()].map(formatPath);

describe("ownership", () => {
  it("an apply owns what it applied; applying the same value as another manager shares it", () => {
    const a = apply(undefined, [], { spec: { replicas: 1, tags: ["x"] } }, "alice");
    if (!a.ok) throw new Error("conflict");
    expect(a.managedFields).toMatchObject([{ manager: "alice", operation: "Apply", fieldsType: "FieldsV1" }]);
    const b = apply(a.object, a.managedFields, { spec: { replicas: 1 } }, "bob");
    if (!b.ok) throw new Error("conflict");
    expect(fields(b.managedFields, "alice")).toEqual([".spec.replicas", '.spec.tags[="x"]']);
    expect(fields(b.managedFields, "bob")).toEqual([".spec.replicas"]);
  });

  it.each<[string, boolean]>([
    ["conflicts without force", false],
    ["takes over with force", true],
  ])("changing another manager's field %s", (_name, force) => {
    const a = apply(undefined, [], { spec: { replicas: 1, args: ["a"] } }, "alice");
    if (!a.ok) throw new Error("conflict");
    const b = apply(a.object, a.managedFields, { spec: { replicas: 3 } }, "bob", force);
    if (!force) {
      expect(b).toEqual({ ok: false, conflicts: [{ manager: "alice", operation: "Apply", apiVersion: V, field: ".spec.replicas", path: ["f:spec", "f:replicas"] }] });
      return;
    }
    if (!b.ok) throw new Error("conflict");
    expect((b.object.spec as { replicas: number }).replicas).toBe(3);
    expect(fields(b.managedFields, "alice")).toEqual([".spec.args"]);
    expect(fields(b.managedFields, "bob")).toEqual([".spec.replicas"]);
  });

  it("a field the manager stops applying is removed, unless another manager owns it", () => {
    const a = apply(undefined, [], { spec: { replicas: 1, args: ["a"], ports: [{ name: "p", port: 1 }] } }, "alice");
    if (!a.ok) throw new Error("conflict");
    const shared = apply(a.object, a.managedFields, { spec: { args: ["a"] } }, "bob");
    if (!shared.ok) throw new Error("conflict");
    const b = apply(shared.object, shared.managedFields, { spec: { replicas: 1 } }, "alice");
    if (!b.ok) throw new Error("conflict");
    expect(b.object).toEqual({ spec: { replicas: 1, args: ["a"] } });
    expect(fields(b.managedFields, "alice")).toEqual([".spec.replicas"]);
  });

  it("an update owns what it changed, takes it from others, and ownership of the rest survives it", () => {
    const a = apply(undefined, [], { spec: { replicas: 1, args: ["a"] } }, "alice");
    if (!a.ok) throw new Error("conflict");
    const after = { spec: { replicas: 5, args: ["a"], limits: { cpu: 2 } } };
    const managed = update(a.object, after, a.managedFields, "kubectl-edit");
    expect(fields(managed, "alice")).toEqual([".spec.args"]);
    expect(fields(managed, "kubectl-edit")).toEqual([".spec.replicas", ".spec.limits.cpu"]);
    expect(managed.find((m) => m.manager === "kubectl-edit")?.operation).toBe("Update");
    // alice applies her old value again: the updater's field conflicts.
    const again = apply(after, managed, { spec: { replicas: 1, args: ["a"] } }, "alice");
    expect(again.ok).toBe(false);
    // An update that changes nothing keeps the entries as they are.
    expect(update(after, after, managed, "other")).toEqual(managed);
  });
});
