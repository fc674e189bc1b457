import { describe, expect, it } from "vitest";
import type { FilterPlugin, TaskRequest } from "../framework/types.js";
import { cloud, device, edge, snapshot } from "../testing/builders.js";
import { dataLocality, nodeReady, nodeSelector, resourceFit, serverLoad, taintToleration, tierPrivacy, tolerates } from "./index.js";

const fleet = snapshot([
  cloud("cloud", { labels: { zone: "a" }, capacity: { cpu: 8000, memoryMiB: 8000, gpu: 2 }, allocated: { cpu: 2000, memoryMiB: 6000, load: 1.5 }, gflops: 1000 }),
  edge("edge", {
    parent: "cloud",
    labels: { zone: "b" },
    capacity: { cpu: 4000, memoryMiB: 4000, gpu: 0 },
    allocated: { cpu: 1000, memoryMiB: 1000, load: 0.5 },
    network: { uplinkMbps: 100, downlinkMbps: 100, rttMs: 10 },
    gflops: 100,
  }),
  edge("tainted", { parent: "cloud", taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] }),
  edge("cordoned", { parent: "cloud", unschedulable: true }),
  edge("down", { parent: "cloud", ready: false }),
  device("dev", "edge", { network: { uplinkMbps: 10, downlinkMbps: 10, rttMs: 5 }, power: { transmitW: 2 } }),
]);

const base: TaskRequest = { resources: { cpu: 0, memoryMiB: 0, gpu: 0 } };

/** The nodes the filter passes, by name. */
function passing(plugin: FilterPlugin, task: Partial<TaskRequest>): string[] {
  const f = plugin.prepare(fleet, { ...base, ...task });
  if (!f) return fleet.nodes.map((n) => n.name);
  const viaReason = fleet.nodes.filter((n) => f.reason(n.index) === undefined).map((n) => n.name);
  if (f.keep) {
    const list = Int32Array.from(fleet.nodes.map((n) => n.index));
    const kept = [...list.subarray(0, f.keep(list, list.length))].map((i) => fleet.nodes[i]!.name);
    expect(kept).toEqual(viaReason);
  }
  return viaReason;
}

function reasonOf(plugin: FilterPlugin, task: Partial<TaskRequest>, node: string): string | undefined {
  return plugin.prepare(fleet, { ...base, ...task })?.reason(fleet.nodeIndex(node));
}

describe("filter plugins", () => {
  it.each<[string, FilterPlugin, Partial<TaskRequest>, string[]]>([
    ["NodeReady", nodeReady, {}, ["cloud", "dev", "edge", "tainted"]],
    ["TaintToleration without tolerations", taintToleration, {}, ["cloud", "cordoned", "dev", "down", "edge"]],
    ["TaintToleration Equal", taintToleration, { tolerations: [{ key: "dedicated", operator: "Equal", value: "gpu" }] }, ["cloud", "cordoned", "dev", "down", "edge", "tainted"]],
    ["TaintToleration wrong value", taintToleration, { tolerations: [{ key: "dedicated", operator: "Equal", value: "cpu" }] }, ["cloud", "cordoned", "dev", "down", "edge"]],
    ["TaintToleration wildcard", taintToleration, { tolerations: [{ operator: "Exists" }] }, ["cloud", "cordoned", "dev", "down", "edge", "tainted"]],
    ["NodeSelector none", nodeSelector, {}, ["cloud", "cordoned", "dev", "down", "edge", "tainted"]],
    ["NodeSelector zone=a", nodeSelector, { nodeSelector: { zone: "a" } }, ["cloud"]],
    ["ResourceFit cpu", resourceFit, { resources: { cpu: 3500, memoryMiB: 0, gpu: 0 } }, ["cloud", "cordoned", "dev", "down", "tainted"]],
    ["ResourceFit memory", resourceFit, { resources: { cpu: 0, memoryMiB: 3000, gpu: 0 } }, ["cordoned", "dev", "down", "edge", "tainted"]],
    ["ResourceFit gpu", resourceFit, { resources: { cpu: 0, memoryMiB: 0, gpu: 1 } }, ["cloud"]],
    // cloud has 2 GPUs: 1.5 + 0.6 > 2; edge has none: 0.5 + 0.6 > 1
    ["ServerLoad", serverLoad, { load: 0.6 }, ["cordoned", "dev", "down", "tainted"]],
    ["ServerLoad within gpu count", serverLoad, { load: 0.5 }, ["cloud", "cordoned", "dev", "down", "edge", "tainted"]],
    ["TierPrivacy tiers", tierPrivacy, { tiers: ["cloud", "device"] }, ["cloud", "dev"]],
    ["TierPrivacy boundary edge", tierPrivacy, { rawData: { from: ["dev"], boundary: "edge" } }, ["cordoned", "dev", "down", "edge", "tainted"]],
    ["TierPrivacy boundary device", tierPrivacy, { rawData: { from: ["dev"], boundary: "device" } }, ["dev"]],
    ["DataLocality holders", dataLocality, { dataNodes: ["dev", "edge"] }, ["dev", "edge"]],
    ["DataLocality reachability", dataLocality, { origins: { nodes: ["dev"] } }, ["cloud", "cordoned", "dev", "down", "edge", "tainted"]],
  ])("%s", (_name, plugin, task, expected) => {
    expect(passing(plugin, task)).toEqual(expected);
  });

  it.each(
    (
      [
        [nodeReady, {}, "down", "node(s) were not ready"],
        [nodeReady, {}, "cordoned", "node(s) were unschedulable"],
        [taintToleration, {}, "tainted", "node(s) had untolerated taint {dedicated: gpu}"],
        [nodeSelector, { nodeSelector: { zone: "a" } }, "edge", "node(s) didn't match node selector"],
        [resourceFit, { resources: { cpu: 3500, memoryMiB: 0, gpu: 0 } }, "edge", "Insufficient cpu"],
        [resourceFit, { resources: { cpu: 0, memoryMiB: 3000, gpu: 0 } }, "cloud", "Insufficient memory"],
        [resourceFit, { resources: { cpu: 0, memoryMiB: 0, gpu: 1 } }, "edge", "Insufficient gpu"],
        [serverLoad, { load: 0.6 }, "edge", "node(s) would be overloaded"],
        [tierPrivacy, { tiers: ["cloud"] }, "edge", "node(s) had a tier the task does not allow"],
        [tierPrivacy, { rawData: { from: ["dev"], boundary: "edge" } }, "cloud", "node(s) were outside the raw-data privacy boundary (edge)"],
        [dataLocality, { dataNodes: ["dev"] }, "edge", "node(s) didn't hold the task's data"],
      ] as Array<[FilterPlugin, Partial<TaskRequest>, string, string]>
    ).map(([plugin, task, node, reason]) => [plugin.name, node, reason, plugin, task] as const),
  )("%s refuses %s: %s", (_name, node, reason, plugin, task) => {
    expect(reasonOf(plugin, task, node)).toBe(reason);
  });

  it("has nothing to check when the task asks for nothing", () => {
    expect(resourceFit.prepare(fleet, base)).toBeUndefined();
    expect(serverLoad.prepare(fleet, base)).toBeUndefined();
    expect(tierPrivacy.prepare(fleet, base)).toBeUndefined();
    expect(dataLocality.prepare(fleet, base)).toBeUndefined();
  });

  it("matches tolerations as Kubernetes does", () => {
    const taint = { key: "k", value: "v", effect: "NoExecute" as const };
    expect(tolerates({ key: "k", operator: "Exists" }, taint)).toBe(true);
    expect(tolerates({ key: "k", operator: "Equal", value: "v", effect: "NoExecute" }, taint)).toBe(true);
    expect(tolerates({ key: "k", operator: "Equal", value: "v", effect: "NoSchedule" }, taint)).toBe(false);
    expect(tolerates({ key: "other", operator: "Exists" }, taint)).toBe(false);
    expect(tolerates({ operator: "Equal", value: "v" }, taint)).toBe(false);
  });

  it("reaches nothing from a node outside the tree", () => {
    const s = snapshot([cloud("c"), device("lone", undefined)]);
    expect(dataLocality.prepare(s, { ...base, origins: { nodes: ["lone"] } })!.reason(s.nodeIndex("c"))).toBe("node(s) were unreachable from the task's data");
  });
});

describe("ResourceFit and task slots", () => {
  it("ResourceFit: a node at its task limit has no room even for a task requesting nothing", () => {
    const slots = snapshot(
      [edge("full", { capacity: { cpu: 1000, memoryMiB: 1000, gpu: 0, tasks: 1 } }), edge("free", { capacity: { cpu: 1000, memoryMiB: 1000, gpu: 0, tasks: 2 } }), edge("unlimited")],
      {
        tasks: [
          { name: "a", namespace: "x", node: "full", resources: { cpu: 0, memoryMiB: 0, gpu: 0 } },
          { name: "b", namespace: "x", node: "free", resources: { cpu: 0, memoryMiB: 0, gpu: 0 } },
          { name: "c", namespace: "x", node: "unlimited", resources: { cpu: 0, memoryMiB: 0, gpu: 0 } },
        ],
      },
    );
    const f = resourceFit.prepare(slots, base)!;
    expect(Object.fromEntries(slots.nodes.map((n) => [n.name, f.reason(n.index)]))).toEqual({ full: "Too many tasks", free: undefined, unlimited: undefined });
    const list = Int32Array.from(slots.nodes.map((n) => n.index));
    expect([...list.subarray(0, f.keep!(list, list.length))].map((i) => slots.nodes[i]!.name)).toEqual(["free", "unlimited"]);
  });
});
