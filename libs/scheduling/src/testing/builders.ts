/**
 * Builders for tests and benchmarks: terse fleets, models and workloads with schema defaults
 * applied (through the libs/api schemas, so they are the objects the API would store).
 */
import { inferenceServiceSpec, modelSpec, trainingJobSpec, type InferenceServiceSpecInput, type ModelSpec, type ModelSpecInput, type TrainingJobSpecInput } from "@eiaas/api";
import type { InferenceServiceInput } from "../inference/types.js";
import { Snapshot, type NodeInit, type TaskInit, type TenantInit } from "../snapshot/snapshot.js";
import type { TrainingJobInput } from "../training/planner.js";

export { CAPACITY_EDGE_CASES, CASE_NODE, CASE_TENANT, caseNode, caseTask, plannerVerdict, type CapacityCase, type CaseDemand } from "./capacity-cases.js";

type NodeOverrides = Partial<Omit<NodeInit, "name">>;

/** A node; a device unless `tier` says otherwise, with generous capacity. */
export function node(name: string, o: NodeOverrides = {}): NodeInit {
  return {
    name,
    tier: "device",
    capacity: { cpu: 4000, memoryMiB: 4096, gpu: 0 },
    ...o,
  };
}

export function device(name: string, parent: string | undefined, o: NodeOverrides = {}): NodeInit {
  return node(name, { tier: "device", ...(parent !== undefined ? { parent } : {}), labels: { role: "client" }, ...o });
}

export function edge(name: string, o: NodeOverrides = {}): NodeInit {
  return node(name, { tier: "edge", capacity: { cpu: 16000, memoryMiB: 32768, gpu: 0 }, ...o });
}

export function cloud(name: string, o: NodeOverrides = {}): NodeInit {
  return node(name, { tier: "cloud", capacity: { cpu: 64000, memoryMiB: 262144, gpu: 4 }, ...o });
}

export function snapshot(nodes: readonly NodeInit[], extra: { tenants?: readonly TenantInit[]; tasks?: readonly TaskInit[]; defaultMaxPriority?: number } = {}): Snapshot {
  return new Snapshot({ nodes, ...extra });
}

type ModelInput = ModelSpecInput;

/** A model spec (schema defaults applied). Default: 3 layers of 1 GFLOP, 100 kB each, accuracy 0.9. */
export function model(o: Partial<ModelInput> = {}): ModelSpec {
  return modelSpec.parse({
    inputBytes: 150_000,
    accuracy: 0.9,
    layers: [1, 2, 3].map((i) => ({ name: `l${i}`, flops: 1e9, outputBytes: 100_000, memoryMiB: 10 })),
    ...o,
  });
}

/** `n` layers named l1..ln with the given per-layer values (arrays are indexed by layer). */
export function layers(n: number, f: { flops?: number[] | number; outputBytes?: number[] | number; memoryMiB?: number[] | number } = {}) {
  const at = (v: number[] | number | undefined, i: number, d: number) => (Array.isArray(v) ? (v[i] ?? d) : (v ?? d));
  return Array.from({ length: n }, (_, i) => ({
    name: `l${i + 1}`,
    flops: at(f.flops, i, 1e9),
    outputBytes: at(f.outputBytes, i, 100_000),
    memoryMiB: at(f.memoryMiB, i, 0),
  }));
}

export function service(name: string, spec: Partial<InferenceServiceSpecInput> = {}, namespace = "default"): InferenceServiceInput {
  return {
    metadata: { name, namespace },
    spec: inferenceServiceSpec.parse({ model: "m", clients: { selector: { matchLabels: { role: "client" } } }, ...spec }),
  };
}

export function trainingJob(name: string, spec: Partial<TrainingJobSpecInput> = {}, namespace = "default"): TrainingJobInput {
  return {
    metadata: { name, namespace },
    spec: trainingJobSpec.parse({ model: "m", mode: "federated", data: { selector: { matchLabels: { data: "yes" } } }, ...spec }),
  };
}

/** The 5-layer model of issue 3's worked case (tk1 device, k40 edge server). */
export function workedModel(o: Partial<ModelInput> = {}): ModelSpec {
  return model({
    inputBytes: 600_000,
    accuracy: 0.9,
    layers: layers(5, { outputBytes: [800_000, 200_000, 400_000, 50_000, 4_000] }),
    profiles: [
      { hardware: "tk1", layerLatencyMs: [40, 10, 60, 5, 25], layerPowerW: [2.0, 1.5, 2.0, 1.5, 1.0] },
      { hardware: "k40", layerLatencyMs: [4, 1, 6, 0.5, 2.5] },
    ],
    ...o,
  });
}

/** Issue 3's worked case: device `dev` (tk1, uplink B, rtt 0, transmitW 1) under edge server `edge` (k40). */
export function workedFleet(bandwidthMbps: number, extra: NodeInit[] = []): NodeInit[] {
  return [
    device("dev", "edge", { hardware: "tk1", network: { uplinkMbps: bandwidthMbps, downlinkMbps: bandwidthMbps, rttMs: 0 }, power: { transmitW: 1 } }),
    edge("edge", { hardware: "k40" }),
    ...extra,
  ];
}
