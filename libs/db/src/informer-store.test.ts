// The informer's store: objects by kind, namespace and name, and secondary indexes that follow an
// item when it moves (a Task re-bound to another node) or goes.
import { describe, expect, it } from "vitest";
import { kindInfo } from "@eiaas/api";
import { InformerStore } from "./informer-store.js";

const TASK = kindInfo("Task");
const NODE = kindInfo("EdgeNode");

type Item = { name: string; node?: string };
const store = () => new InformerStore<Item>({ node: (kind, item) => (kind.kind === "Task" ? item.node : undefined) });

describe("InformerStore", () => {
  it("keeps items by kind, namespace and name, and lists one namespace or all", () => {
    const s = store();
    s.put(TASK, "a", "t1", { name: "t1" });
    s.put(TASK, "b", "t1", { name: "t1-b" });
    s.put(NODE, "", "e1", { name: "e1" });
    expect(s.size).toBe(3);
    expect(s.get("Task", "a", "t1")).toEqual({ name: "t1" });
    expect(s.get("Task", "b", "t1")).toEqual({ name: "t1-b" });
    expect([...s.list("Task", "a")].map((i) => i.name)).toEqual(["t1"]);
    expect([...s.list("Task")].map((i) => i.name).sort()).toEqual(["t1", "t1-b"]);
    expect([...s.list("Model")]).toEqual([]);
    expect(s.remove(TASK, "a", "t1")).toEqual({ name: "t1" });
    expect(s.remove(TASK, "a", "t1")).toBeUndefined();
    expect(s.size).toBe(2);
    expect([...s.list("Task", "a")]).toEqual([]);
  });

  it("moves an item between index values as it changes, and drops it when it goes", () => {
    const s = store();
    s.put(TASK, "a", "t1", { name: "t1", node: "e1" });
    s.put(TASK, "a", "t2", { name: "t2", node: "e1" });
    s.put(NODE, "", "e1", { name: "e1", node: "e1" });
    expect(
      s
        .byIndex("node", "e1")
        .map((i) => i.name)
        .sort(),
    ).toEqual(["t1", "t2"]);
    // Re-bound, then updated in place: found under its new node only, as its newest version.
    s.put(TASK, "a", "t1", { name: "t1", node: "e2" });
    s.put(TASK, "a", "t1", { name: "t1", node: "e2" });
    expect(s.byIndex("node", "e1").map((i) => i.name)).toEqual(["t2"]);
    expect(s.byIndex("node", "e2")).toEqual([{ name: "t1", node: "e2" }]);
    // Unbound: in no index.
    s.put(TASK, "a", "t2", { name: "t2" });
    expect(s.byIndex("node", "e1")).toEqual([]);
    s.remove(TASK, "a", "t1");
    expect(s.byIndex("node", "e2")).toEqual([]);
    s.clear();
    expect(s.size).toBe(0);
    expect(s.get("EdgeNode", "", "e1")).toBeUndefined();
  });
});
