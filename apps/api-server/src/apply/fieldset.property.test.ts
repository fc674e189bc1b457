// The set operations and the change walk run on every write, so they are written for speed (one
// walk of both trees/values). Here they are held against their definitions, spelled out the slow,
// obvious way (path lists), on random values of a schema with every list kind.
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FieldSet, type PathElement } from "./fieldset.js";
import { changedPaths, toFieldSet, valueAt } from "./merge.js";
import { shapeOf, type Shape } from "./shape.js";

const SCHEMA = {
  type: "object",
  properties: {
    metadata: {
      type: "object",
      properties: { labels: { type: "object", additionalProperties: { type: "string" } }, finalizers: { type: "array", items: { type: "string" }, "x-kubernetes-list-type": "set" } },
    },
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
          items: {
            type: "object",
            properties: {
              name: { type: "string" },
              port: { type: "integer" },
              opts: { type: "object", additionalProperties: { type: "integer" } },
              hosts: { type: "array", items: { type: "string" }, "x-kubernetes-list-type": "set" },
            },
          },
        },
        slo: { type: "object", properties: { latencyMs: { type: "number" }, nested: { type: "object", properties: { a: { type: "string" } } } } },
      },
    },
  },
};
const SHAPE: Shape = shapeOf(SCHEMA, {});

/** The set's member paths as sorted strings (order-free comparison). */
const members = (s: FieldSet) => [...s.paths()].map((p) => p.join("/")).sort();

// Definitions: what each operation means, on path lists.
const union = (a: FieldSet, b: FieldSet) => FieldSet.of([...a.paths(), ...b.paths()]);
const difference = (a: FieldSet, b: FieldSet) => FieldSet.of([...a.paths()].filter((p) => !b.has(p)));
const intersection = (a: FieldSet, b: FieldSet) => FieldSet.of([...a.paths()].filter((p) => b.has(p)));
function changedByDefinition(before: unknown, after: unknown): FieldSet {
  const out = new FieldSet();
  for (const p of union(toFieldSet(before, SHAPE), toFieldSet(after, SHAPE)).paths()) {
    const x = valueAt(before, SHAPE, p);
    const y = valueAt(after, SHAPE, p);
    const keyedItem = p[p.length - 1]!.startsWith("k:");
    if (keyedItem ? (x === undefined) !== (y === undefined) : !isDeepStrictEqual(x, y)) out.insert(p);
  }
  return out;
}

// Values drawn from a small alphabet, so that before and after share, change and lose fields.
const word = fc.constantFrom("a", "b", "c");
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const port = fc.record(
  { name: maybe(word), port: maybe(fc.integer({ min: 1, max: 3 })), opts: maybe(fc.dictionary(word, fc.integer({ min: 0, max: 2 }))), hosts: maybe(fc.array(word, { maxLength: 3 })) },
  { requiredKeys: [] },
);
const object = fc.record(
  {
    metadata: fc.record({ labels: maybe(fc.dictionary(word, word)), finalizers: maybe(fc.array(word, { maxLength: 3 })) }, { requiredKeys: [] }),
    spec: fc.record(
      {
        replicas: maybe(fc.oneof(fc.integer({ min: 0, max: 2 }), word)),
        tags: maybe(fc.oneof(fc.array(word, { maxLength: 3 }), word)),
        args: maybe(fc.array(word, { maxLength: 2 })),
        ports: maybe(fc.oneof(fc.array(port, { maxLength: 3 }), fc.constant({}))),
        slo: maybe(
          fc.oneof(
            fc.record({ latencyMs: maybe(fc.integer({ min: 0, max: 2 })), nested: maybe(fc.oneof(fc.record({ a: maybe(word) }, { requiredKeys: [] }), word)) }, { requiredKeys: [] }),
            fc.constant(null),
          ),
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);
// A value and one derived from it by a few edits: most pairs differ in a few places only.
const pair = fc.tuple(object, object, fc.boolean()).map(([a, b, mix]) => [a, mix ? { ...a, spec: { ...(a.spec ?? {}), ...(b.spec ?? {}) } } : b] as const);
const paths = fc.array(fc.array(fc.constantFrom<PathElement>("f:a", "f:b", 'k:{"name":"a"}', 'v:"x"'), { minLength: 1, maxLength: 3 }), { maxLength: 8 });

describe("field sets: the fast operations agree with their definitions", () => {
  it("union, difference, intersection and emptiness", () => {
    fc.assert(
      fc.property(paths, paths, (pa, pb) => {
        const a = FieldSet.of(pa);
        const b = FieldSet.of(pb);
        expect(members(a.union(b))).toEqual(members(union(a, b)));
        expect(members(a.difference(b))).toEqual(members(difference(a, b)));
        expect(members(a.intersection(b))).toEqual(members(intersection(a, b)));
        expect(a.difference(b).isEmpty()).toBe(members(difference(a, b)).length === 0);
        // Results share no node with their inputs.
        const u = a.union(b);
        u.insert(["f:new"]);
        expect(a.has(["f:new"]) || b.has(["f:new"])).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it("changedPaths is the paths either value sets whose values differ (keyed items: appeared or went)", () => {
    fc.assert(
      fc.property(pair, ([before, after]) => {
        expect(members(changedPaths(before, after, SHAPE))).toEqual(members(changedByDefinition(before, after)));
        expect(members(changedPaths(undefined, after, SHAPE))).toEqual(members(changedByDefinition(undefined, after)));
        expect(members(changedPaths(before, before, SHAPE))).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });
});
