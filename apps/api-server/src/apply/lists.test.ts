// Table-driven: server-side apply on keyed (`x-kubernetes-list-type: map`) and set lists, step by
// step, against what structured-merge-diff (kube-apiserver's implementation) does: an item is
// removed when the manager that applied it stops applying it and no manager owns the item itself
// (owning a field inside it does not keep it: upstream's prune adds back only what is owned, and
// a keyed item is not a named field); re-keying is a removal plus an addition; an item owned by
// several managers stays until the last drops it; an empty set or keyed list owns nothing (only an
// atomic list is a field of its own); force takes over only the conflicting fields.
import { describe, expect, it } from "vitest";
import { FieldSet, formatPath } from "./fieldset.js";
import { applyConfiguration, recordUpdate, type ManagedFieldsEntry } from "./managed-fields.js";
import { shapeOf, type Shape } from "./shape.js";

const SHAPE: Shape = shapeOf(
  {
    type: "object",
    properties: {
      spec: {
        type: "object",
        properties: {
          replicas: { type: "integer" },
          tags: { type: "array", items: { type: "string" }, "x-kubernetes-list-type": "set" },
          ports: {
            type: "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            items: { type: "object", properties: { name: { type: "string" }, port: { type: "integer" }, proto: { type: "string" } } },
          },
          taints: {
            type: "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["key", "effect"],
            items: { type: "object", properties: { key: { type: "string" }, effect: { type: "string" }, value: { type: "string" } } },
          },
        },
      },
    },
  },
  {},
);
const V = "eiaas.io/v1alpha1";

/** One write: an apply by `manager` (optionally forced), or an ordinary update to `value` as a whole. */
type Step = { apply: string; value: Record<string, unknown>; force?: boolean; conflicts?: string[] } | { update: string; value: Record<string, unknown> };

interface Case {
  name: string;
  steps: Step[];
  /** The object after the last step. */
  object: Record<string, unknown>;
  /** Each manager's fields after the last step (managers absent here own nothing). */
  owned: Record<string, string[]>;
}

const spec = (s: Record<string, unknown>) => ({ spec: s });
const p = (name: string, port?: number, proto?: string) => ({ name, ...(port !== undefined ? { port } : {}), ...(proto ? { proto } : {}) });

const CASES: Case[] = [
  {
    name: "an apply that drops an item it owned removes it",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1), p("b", 2)] }) },
      { apply: "alice", value: spec({ ports: [p("a", 1)] }) },
    ],
    object: spec({ ports: [p("a", 1)] }),
    owned: { alice: ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].port'] },
  },
  {
    name: "an apply that drops the whole list removes its items, and the list with them",
    steps: [
      { apply: "alice", value: spec({ replicas: 1, ports: [p("a", 1)] }) },
      { apply: "alice", value: spec({ replicas: 1 }) },
    ],
    object: spec({ replicas: 1 }),
    owned: { alice: [".spec.replicas"] },
  },
  {
    name: "re-keying an item is a removal plus an addition",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1)] }) },
      { apply: "alice", value: spec({ ports: [p("c", 1)] }) },
    ],
    object: spec({ ports: [p("c", 1)] }),
    owned: { alice: ['.spec.ports[name="c"]', '.spec.ports[name="c"].name', '.spec.ports[name="c"].port'] },
  },
  {
    name: "re-keying by one field of a two-field key is a removal plus an addition",
    steps: [
      { apply: "alice", value: spec({ taints: [{ key: "k", effect: "NoSchedule", value: "v" }] }) },
      { apply: "alice", value: spec({ taints: [{ key: "k", effect: "NoExecute", value: "v" }] }) },
    ],
    object: spec({ taints: [{ key: "k", effect: "NoExecute", value: "v" }] }),
    owned: {
      alice: [
        '.spec.taints[effect="NoExecute",key="k"]',
        '.spec.taints[effect="NoExecute",key="k"].key',
        '.spec.taints[effect="NoExecute",key="k"].effect',
        '.spec.taints[effect="NoExecute",key="k"].value',
      ],
    },
  },
  {
    name: "re-keying an item another manager also applied keeps the old one for it",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1)] }) },
      { apply: "bob", value: spec({ ports: [p("a", 1)] }) },
      { apply: "alice", value: spec({ ports: [p("c", 1)] }) },
    ],
    object: spec({ ports: [p("a", 1), p("c", 1)] }),
    owned: {
      alice: ['.spec.ports[name="c"]', '.spec.ports[name="c"].name', '.spec.ports[name="c"].port'],
      bob: ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].port'],
    },
  },
  {
    name: "two managers own different items of one list; each drops only its own",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1)] }) },
      { apply: "bob", value: spec({ ports: [p("b", 2)] }) },
      { apply: "alice", value: spec({ replicas: 3 }) },
    ],
    object: spec({ ports: [p("b", 2)], replicas: 3 }),
    owned: { alice: [".spec.replicas"], bob: ['.spec.ports[name="b"]', '.spec.ports[name="b"].name', '.spec.ports[name="b"].port'] },
  },
  {
    name: "an item both applied (shared ownership) stays while one of them still applies it",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1)] }) },
      { apply: "bob", value: spec({ ports: [p("a", 1)] }) },
      { apply: "alice", value: spec({ replicas: 1 }) },
    ],
    object: spec({ ports: [p("a", 1)], replicas: 1 }),
    owned: { alice: [".spec.replicas"], bob: ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].port'] },
  },
  {
    name: "a shared item goes when the last of its appliers drops it",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1)] }) },
      { apply: "bob", value: spec({ ports: [p("a", 1)] }) },
      { apply: "alice", value: spec({ replicas: 1 }) },
      { apply: "bob", value: spec({ replicas: 1 }) },
    ],
    object: spec({ replicas: 1 }),
    owned: { alice: [".spec.replicas"], bob: [".spec.replicas"] },
  },
  {
    name: "a shared item keeps the other applier's fields in it and loses the dropper's",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1)] }) },
      { apply: "bob", value: spec({ ports: [p("a", undefined, "tcp")] }) },
      { apply: "alice", value: spec({ replicas: 1 }) },
    ],
    object: spec({ ports: [p("a", undefined, "tcp")], replicas: 1 }),
    owned: { alice: [".spec.replicas"], bob: ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].proto'] },
  },
  {
    name: "an item whose applier drops it goes whole even if an updater owns a field inside it (not the item)",
    steps: [
      { apply: "alice", value: spec({ replicas: 1, ports: [p("a", 1, "tcp")] }) },
      { update: "kubectl-edit", value: spec({ replicas: 1, ports: [p("a", 2, "tcp")] }) },
      { apply: "alice", value: spec({ replicas: 1 }) },
    ],
    object: spec({ replicas: 1 }),
    owned: { alice: [".spec.replicas"] },
  },
  {
    name: "an item an updater added (owning the item) stays when the applier drops its own fields in it",
    steps: [
      { apply: "alice", value: spec({ replicas: 1 }) },
      { update: "kubectl-edit", value: spec({ replicas: 1, ports: [p("a", 2)] }) },
      { apply: "alice", value: spec({ replicas: 1, ports: [p("a", undefined, "tcp")] }) },
      { apply: "alice", value: spec({ replicas: 1 }) },
    ],
    object: spec({ replicas: 1, ports: [p("a", 2)] }),
    owned: { alice: [".spec.replicas"], "kubectl-edit": ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].port'] },
  },
  {
    name: "a set: each value is owned; a shared value stays, one no one applies any more goes",
    steps: [
      { apply: "alice", value: spec({ tags: ["x", "y"] }) },
      { apply: "bob", value: spec({ tags: ["y", "z"] }) },
      { apply: "alice", value: spec({ replicas: 1 }) },
    ],
    object: spec({ tags: ["y", "z"], replicas: 1 }),
    owned: { alice: [".spec.replicas"], bob: ['.spec.tags[="y"]', '.spec.tags[="z"]'] },
  },
  {
    name: "a set: re-applying without a value removes it, the others stay",
    steps: [
      { apply: "alice", value: spec({ tags: ["x", "y"] }) },
      { apply: "alice", value: spec({ tags: ["y"] }) },
    ],
    object: spec({ tags: ["y"] }),
    owned: { alice: ['.spec.tags[="y"]'] },
  },
  {
    name: "an empty set or keyed list owns nothing (as upstream): another manager adds items without conflict",
    steps: [
      { apply: "alice", value: spec({ replicas: 1, tags: [], ports: [] }) },
      { apply: "bob", value: spec({ tags: ["q"], ports: [p("a", 1)] }) },
    ],
    object: spec({ replicas: 1, tags: ["q"], ports: [p("a", 1)] }),
    owned: { alice: [".spec.replicas"], bob: ['.spec.tags[="q"]', '.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].port'] },
  },
  {
    name: "a changed field inside another manager's item conflicts (409 names it)",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1)] }) },
      { apply: "bob", value: spec({ ports: [p("a", 2)] }), conflicts: ['alice: .spec.ports[name="a"].port'] },
    ],
    object: spec({ ports: [p("a", 1)] }),
    owned: { alice: ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].port'] },
  },
  {
    name: "force takes over only the conflicting field of the item; the item is then shared",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1, "tcp")] }) },
      { apply: "bob", value: spec({ ports: [p("a", 2)] }), force: true },
    ],
    object: spec({ ports: [p("a", 2, "tcp")] }),
    owned: {
      alice: ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].proto'],
      bob: ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].port'],
    },
  },
  {
    name: "after a forced take-over, the first applier dropping the item leaves it with the taker's fields",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1, "tcp")] }) },
      { apply: "bob", value: spec({ ports: [p("a", 2)] }), force: true },
      { apply: "alice", value: spec({ replicas: 1 }) },
    ],
    object: spec({ ports: [p("a", 2)], replicas: 1 }),
    owned: { alice: [".spec.replicas"], bob: ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].port'] },
  },
  {
    name: "a forced apply that leaves out another manager's item does not remove it",
    steps: [
      { apply: "alice", value: spec({ ports: [p("a", 1)] }) },
      { apply: "bob", value: spec({ ports: [p("b", 2)] }), force: true },
    ],
    object: spec({ ports: [p("a", 1), p("b", 2)] }),
    owned: { alice: ['.spec.ports[name="a"]', '.spec.ports[name="a"].name', '.spec.ports[name="a"].port'], bob: ['.spec.ports[name="b"]', '.spec.ports[name="b"].name', '.spec.ports[name="b"].port'] },
  },
];

function run(steps: Step[]): { object: Record<string, unknown>; managed: ManagedFieldsEntry[]; conflicts: string[][] } {
  let object: Record<string, unknown> | undefined;
  let managed: ManagedFieldsEntry[] = [];
  const conflicts: string[][] = [];
  for (const step of steps) {
    if ("update" in step) {
      managed = recordUpdate({ before: object, after: step.value, managed, manager: step.update, apiVersion: V, shape: SHAPE, now: "t" });
      object = step.value;
      continue;
    }
    const r = applyConfiguration({ live: object, managed, applied: step.value, manager: step.apply, force: step.force ?? false, apiVersion: V, shape: SHAPE, now: "t" });
    if (!r.ok) {
      conflicts.push(r.conflicts.map((c) => `${c.manager}: ${c.field}`));
      continue;
    }
    conflicts.push([]);
    object = r.object;
    managed = r.managedFields;
  }
  return { object: object ?? {}, managed, conflicts };
}

const ownedBy = (managed: ManagedFieldsEntry[]) => Object.fromEntries(managed.map((m) => [m.manager, [...FieldSet.fromFieldsV1(m.fieldsV1).paths()].map(formatPath).sort()]));
const sorted = (o: Record<string, string[]>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, [...v].sort()]));

describe("server-side apply on keyed and set lists", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const r = run(c.steps);
    expect(r.conflicts).toEqual(c.steps.filter((s) => "apply" in s).map((s) => ("apply" in s ? (s.conflicts ?? []) : [])));
    expect(r.object).toEqual(c.object);
    expect(ownedBy(r.managed)).toEqual(sorted(c.owned));
  });
});
