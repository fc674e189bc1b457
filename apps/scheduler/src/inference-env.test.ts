import { describe, expect, it } from "vitest";
import type { PlannedTask } from "@eiaas/scheduling";
import { inferenceEnv } from "./inference-env.js";

const task = (role: string, node: string, layers: { from: number; to: number }, clients: string[], exitAfterLayer = 6, variant = "base"): PlannedTask =>
  ({
    role,
    node,
    key: `${role}/${node}/${variant}/${exitAfterLayer}`,
    variant,
    exitAfterLayer,
    layers,
    clients,
    resources: { cpu: 0, memoryMiB: 0, gpu: 0 },
    load: 0,
    priority: 0,
    annotations: {},
  }) as PlannedTask;
const name = (p: PlannedTask) => `svc-r2-${p.role}-${p.node}`;
const layerCount = (v: string) => (v === "base" ? 6 : v === "small" ? 4 : undefined);

describe("inferenceEnv (what a service's tasks are told)", () => {
  it("names each head's tail: the one on its client's tail node, of the same chain", () => {
    const tasks = [
      task("head", "dev-1", { from: 1, to: 2 }, ["dev-1"]),
      task("head", "dev-2", { from: 1, to: 3 }, ["dev-2"]),
      task("tail", "edge-1", { from: 3, to: 6 }, ["dev-1"]),
      task("tail", "edge-2", { from: 4, to: 6 }, ["dev-2"]),
      task("tail", "edge-1", { from: 2, to: 6 }, ["dev-2"], 6, "small"),
      task("serve", "cloud-1", { from: 1, to: 6 }, ["dev-3"]),
    ];
    const clients = [
      { client: "dev-1", headNode: "dev-1", tailNode: "edge-1" },
      { client: "dev-2", headNode: "dev-2", tailNode: "edge-2" },
      { client: "dev-3", tailNode: "cloud-1" },
    ];
    const env = inferenceEnv(tasks, clients, name, { layerCount });
    expect(env.get("head/dev-1/base/6")).toEqual({ EIAAS_NEXT_TASK: "svc-r2-tail-edge-1" });
    expect(env.get("head/dev-2/base/6")).toEqual({ EIAAS_NEXT_TASK: "svc-r2-tail-edge-2" });
    expect(env.has("tail/edge-1/base/6")).toBe(false);
    expect(env.has("serve/cloud-1/base/6")).toBe(false);
  });

  it("makes an exit chain's exit head answer (threshold 0), as the planner predicts; a template's threshold wins", () => {
    const tasks = [
      task("head", "dev-1", { from: 1, to: 2 }, ["dev-1"], 3),
      task("tail", "edge-1", { from: 3, to: 4 }, ["dev-1"], 3),
      task("serve", "edge-2", { from: 1, to: 4 }, ["dev-2"], 3, "small"),
    ];
    const clients = [{ client: "dev-1", headNode: "dev-1", tailNode: "edge-1" }];
    const env = inferenceEnv(tasks, clients, name, { layerCount });
    expect(env.get("head/dev-1/base/3")).toEqual({ EIAAS_NEXT_TASK: "svc-r2-tail-edge-1" });
    expect(env.get("tail/edge-1/base/3")).toEqual({ EIAAS_EXIT_THRESHOLD: "0" });
    // The variant "small" has 4 layers: exiting after its 3rd is an exit chain too.
    expect(env.get("serve/edge-2/small/3")).toEqual({ EIAAS_EXIT_THRESHOLD: "0" });
    const templated = inferenceEnv(tasks, clients, name, { layerCount, templateEnv: { EIAAS_EXIT_THRESHOLD: "0.8" } });
    expect(templated.has("tail/edge-1/base/3")).toBe(false);
  });
});
