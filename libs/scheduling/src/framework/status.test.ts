import { describe, expect, it } from "vitest";
import type { InferenceServiceSpecInput } from "@eiaas/api";
import { planInference } from "../inference/planner.js";
import type { NodeInit } from "../snapshot/snapshot.js";
import { cloud, device, edge, layers, model, service, snapshot, trainingJob } from "../testing/builders.js";
import { planTraining } from "../training/planner.js";

// The code, not the message, tells the scheduler whether preemption can help (kube-scheduler's
// Unschedulable vs UnschedulableAndUnresolvable): only a lack of room is worth evicting for.

const m3 = model({
  inputBytes: 1000,
  accuracy: 0.9,
  layers: layers(3, { outputBytes: [500, 100, 10], memoryMiB: 1 }),
  profiles: [
    { hardware: "dev", layerLatencyMs: [10, 10, 10] },
    { hardware: "srv", layerLatencyMs: [1, 1, 1] },
  ],
});
const link = { network: { uplinkMbps: 8, downlinkMbps: 8, rttMs: 0 } };
const dev = (name = "dev", o: Partial<NodeInit> = {}) => device(name, "edge", { hardware: "dev", ...link, ...o });
const srv = (o: Partial<NodeInit> = {}) => edge("edge", { hardware: "srv", ...link, ...o });

function inferenceCode(nodes: NodeInit[], spec: Partial<InferenceServiceSpecInput>, o: { quotaCpu?: number; model?: boolean } = {}) {
  const s = snapshot(nodes, o.quotaCpu !== undefined ? { tenants: [{ name: "default", quota: { cpu: o.quotaCpu } }] } : {});
  const r = planInference(s, service("svc", spec), o.model === false ? undefined : m3);
  if (r.status !== "Unschedulable") throw new Error(`expected Unschedulable: ${r.message}`);
  return { code: r.code, reasons: r.failures.flatMap((f) => f.reasons) };
}

describe("planInference's code", () => {
  it("is Unschedulable when memory or cpu on the nodes involved was all that was missing", () => {
    const full = [srv({ capacity: { cpu: 1000, memoryMiB: 50, gpu: 0 } }), dev("dev", { capacity: { cpu: 1000, memoryMiB: 50, gpu: 0 } })];
    expect(inferenceCode(full, { resources: { cpu: 0, memoryMiB: 100, gpu: 0 } })).toEqual({ code: "Unschedulable", reasons: ["resources"] });
  });

  it("is Unschedulable when servers were too busy (load)", () => {
    const busy = [srv({ allocated: { load: 0.5 } }), dev()];
    expect(inferenceCode(busy, { clients: { selector: { matchLabels: { role: "client" } }, requestsPerSecond: 200 }, architecture: "edge" })).toEqual({ code: "Unschedulable", reasons: ["load"] });
  });

  it("is UnschedulableAndUnresolvable for an SLO no option meets, whatever room there is", () => {
    expect(inferenceCode([srv(), dev()], { slo: { latencyMs: 1 } })).toEqual({ code: "UnschedulableAndUnresolvable", reasons: ["slo"] });
  });

  it("is UnschedulableAndUnresolvable for a cordoned client, though its reason reads `resources`", () => {
    expect(inferenceCode([srv(), dev("dev", { unschedulable: true })], { architecture: "device" })).toEqual({ code: "UnschedulableAndUnresolvable", reasons: ["resources"] });
  });

  it("is UnschedulableAndUnresolvable when one client lacks room and another meets no SLO", () => {
    // d-slow's own hardware and link make every option miss 15 ms; d-fast fits only with room.
    const nodes = [srv({ capacity: { cpu: 100, memoryMiB: 1000, gpu: 0 } }), dev("d-fast"), dev("d-slow", { hardware: "slow", network: { uplinkMbps: 0.001, downlinkMbps: 0.001, rttMs: 0 } })];
    const r = inferenceCode(nodes, { resources: { cpu: 100, memoryMiB: 0, gpu: 0 }, slo: { latencyMs: 15 } });
    expect(r.code).toBe("UnschedulableAndUnresolvable");
  });

  it("is UnschedulableAndUnresolvable over quota (preemption never takes a tenant past it) or without the model", () => {
    expect(inferenceCode([srv(), dev()], { resources: { cpu: 100, memoryMiB: 0, gpu: 0 } }, { quotaCpu: 50 })).toEqual({ code: "UnschedulableAndUnresolvable", reasons: ["quota"] });
    expect(inferenceCode([srv(), dev()], {}, { model: false })).toEqual({ code: "UnschedulableAndUnresolvable", reasons: ["model"] });
  });
});

const data = { labels: { data: "yes" } };
const mdl = model({ inputBytes: 1, accuracy: 0.9, layers: layers(1, { memoryMiB: 1 }) });
const net = { network: { uplinkMbps: 100, downlinkMbps: 100, rttMs: 1 } };
const fleet = (o: Partial<NodeInit> = {}) => [
  cloud("cloud", { ...net, ...o }),
  edge("e1", { parent: "cloud", ...net, ...o }),
  device("d1", "e1", { ...net, ...data }),
  device("d2", "e1", { ...net, ...data }),
];

describe("planTraining's code", () => {
  it("is Unschedulable when data nodes were refused for room alone", () => {
    const r = planTraining(snapshot(fleet()), trainingJob("t", { participants: { min: 2 }, resources: { cpu: 0, memoryMiB: 8192, gpu: 0 } }), mdl);
    expect(r).toMatchObject({ status: "Unschedulable", code: "Unschedulable", reasons: ["participants"] });
  });

  it("is UnschedulableAndUnresolvable when too few data nodes are Ready, room or not", () => {
    const nodes = [...fleet().slice(0, 3), device("d2", "e1", { ...net, ...data, ready: false })];
    const r = planTraining(snapshot(nodes), trainingJob("t", { participants: { min: 2 }, resources: { cpu: 0, memoryMiB: 8192, gpu: 0 } }), mdl);
    expect(r).toMatchObject({ status: "Unschedulable", code: "UnschedulableAndUnresolvable", reasons: ["participants"] });
  });

  it("is Unschedulable when only room for the aggregator was missing, UnschedulableAndUnresolvable when no node may host it", () => {
    const full = planTraining(snapshot(fleet({ allocated: { cpu: 64000, memoryMiB: 262144 } })), trainingJob("t", { participants: { min: 1 }, resources: { cpu: 100, memoryMiB: 0, gpu: 0 } }), mdl);
    expect(full).toMatchObject({ status: "Unschedulable", code: "Unschedulable", reasons: ["resources"] });
    const cordoned = planTraining(snapshot(fleet({ unschedulable: true })), trainingJob("t", { participants: { min: 1 } }), mdl);
    expect(cordoned).toMatchObject({ status: "Unschedulable", code: "UnschedulableAndUnresolvable", reasons: ["resources"] });
  });

  it("is UnschedulableAndUnresolvable over quota", () => {
    const s = snapshot(fleet(), { tenants: [{ name: "default", quota: { cpu: 50 } }] });
    expect(planTraining(s, trainingJob("t", { participants: { min: 1 }, resources: { cpu: 100, memoryMiB: 0, gpu: 0 } }), mdl)).toMatchObject({
      code: "UnschedulableAndUnresolvable",
      reasons: ["quota"],
    });
  });
});
