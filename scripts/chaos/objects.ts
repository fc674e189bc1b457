// The objects the tenants write: their model, InferenceServices (on the fleet's edge servers of a
// region, or on the standalone agents), federated TrainingJobs, and models created only to be
// edited and deleted. Every workload's template runs `sleep` (what the standalone agents' process
// runtime runs; the fleet simulates) with the run's marker in its environment.
import type { Layout } from "./layout.js";
import { V } from "./http.js";
import type { Rng } from "./rng.js";

/** The tenants' model (five layers), never deleted by the traffic. */
export const BASE_MODEL = "m";

export function modelObject(name: string, namespace: string, image = "chaos/model:1") {
  return {
    apiVersion: V,
    kind: "Model",
    metadata: { name, namespace },
    spec: {
      inputBytes: 600_000,
      accuracy: 0.8,
      image,
      layers: [
        { name: "l1", flops: 4e8, outputBytes: 800_000, memoryMiB: 1 },
        { name: "l2", flops: 1e8, outputBytes: 200_000, memoryMiB: 1 },
        { name: "l3", flops: 6e8, outputBytes: 400_000, memoryMiB: 1 },
        { name: "l4", flops: 5e7, outputBytes: 50_000, memoryMiB: 1 },
        { name: "l5", flops: 2.5e8, outputBytes: 4_000, memoryMiB: 1 },
      ],
    },
  };
}

export interface WorkloadOptions {
  runId: string;
  finalizers?: string[];
}

/**
 * An InferenceService for one client group: served in its region by the fleet's edge servers, or
 * (a quarter of them, clients in region r0) by the standalone agents.
 */
export function inferenceService(name: string, namespace: string, rng: Rng, lay: Layout, o: WorkloadOptions) {
  const standalone = lay.agents.length > 0 && rng.chance(0.25);
  const candidates = standalone ? lay.groups.filter((g) => g.region === "r0") : lay.groups;
  const g = rng.pick(candidates.length ? candidates : lay.groups);
  return {
    apiVersion: V,
    kind: "InferenceService",
    metadata: { name, namespace, ...(o.finalizers ? { finalizers: o.finalizers } : {}) },
    spec: {
      model: BASE_MODEL,
      clients: { selector: { matchLabels: { group: g.group } }, requestsPerSecond: rng.int(1, 4) / 2 },
      architecture: standalone || rng.chance(0.7) ? "edge" : "auto",
      resources: { cpu: rng.int(2, 8) * 100, memoryMiB: rng.int(1, 4) * 64 },
      nodeSelector: standalone ? { pool: "standalone" } : { region: g.region },
      template: { command: ["sleep", "86400"], env: { CHAOS_RUN: o.runId, CHAOS_EDIT: "0" } },
    },
  };
}

/** A federated TrainingJob on the data-holding devices of a region, 10-30 s of simulated work. */
export function trainingJob(name: string, namespace: string, rng: Rng, lay: Layout, o: WorkloadOptions) {
  const region = rng.pick(lay.regions);
  const rounds = rng.int(2, 4);
  const stepS = rng.int(3, 7);
  const seconds = rounds * (stepS + 1);
  return {
    apiVersion: V,
    kind: "TrainingJob",
    metadata: { name, namespace, ...(o.finalizers ? { finalizers: o.finalizers } : {}) },
    spec: {
      model: BASE_MODEL,
      mode: "federated",
      data: { selector: { matchLabels: { data: "local", region } }, sizeBytes: 10_000_000 },
      participants: { min: 1, max: 3 },
      rounds,
      aggregation: { localSteps: 1, estimates: { localStepSeconds: stepS, aggregationSeconds: 1 } },
      resources: { cpu: rng.int(1, 4) * 100, memoryMiB: 128 },
      template: { command: ["sleep", String(seconds)], env: { CHAOS_RUN: o.runId, CHAOS_EDIT: "0" } },
    },
  };
}

export function tenantObject(name: string, workloads: number) {
  // A quota that binds now and then: about two tasks per live workload.
  return { apiVersion: V, kind: "Tenant", metadata: { name }, spec: { quota: { cpu: workloads * 700, tasks: workloads * 2 } } };
}
