// Test-only: the objects and helpers the scheduler's end-to-end tests share — the API version, the
// five-layer model, node specs for each tier, an InferenceService template (and, re-exported, the shared polling wait).
import type { EdgeNodeSpecInput } from "@eiaas/api";

/** apiVersion of every eiaas object. */
export const V = "eiaas.io/v1alpha1";

/** The model of the scheduler's end-to-end tests: five layers, no profiles. */
export const MODEL = {
  apiVersion: V,
  kind: "Model",
  metadata: { name: "m" },
  spec: {
    inputBytes: 600000,
    accuracy: 0.8,
    layers: [
      { name: "l1", flops: 4e8, outputBytes: 800000, memoryMiB: 1 },
      { name: "l2", flops: 1e8, outputBytes: 200000, memoryMiB: 1 },
      { name: "l3", flops: 6e8, outputBytes: 400000, memoryMiB: 1 },
      { name: "l4", flops: 5e7, outputBytes: 50000, memoryMiB: 1 },
      { name: "l5", flops: 2.5e8, outputBytes: 4000, memoryMiB: 1 },
    ],
  },
};

/** A cloud node: one A100, 32 cores, 64 GiB. */
export const cloudSpec = (): EdgeNodeSpecInput => ({ tier: "cloud", hardware: "a100", capacity: { cpu: 32000, memoryMiB: 65536, gpu: 1 }, compute: { gflops: 5000 } });

/** An edge server under `parent` with a 100 Mbps / 10 ms link; `extra` overrides fields whole. */
export const edgeSpec = (parent: string, extra: Partial<EdgeNodeSpecInput> = {}): EdgeNodeSpecInput => ({
  tier: "edge",
  parent,
  hardware: "k40",
  capacity: { cpu: 8000, memoryMiB: 16384 },
  compute: { gflops: 1000 },
  network: { uplinkMbps: 100, downlinkMbps: 100, rttMs: 10 },
  ...extra,
});

/** A device (Jetson TK1 class) under `parent` with a 40 Mbps / 2 ms link. */
export const deviceSpec = (parent: string): EdgeNodeSpecInput => ({
  tier: "device",
  parent,
  hardware: "tk1",
  capacity: { cpu: 4000, memoryMiB: 2048 },
  compute: { gflops: 20 },
  power: { computeW: 5, transmitW: 1 },
  network: { uplinkMbps: 40, downlinkMbps: 40, rttMs: 2 },
});

/** An InferenceService of model `m` for the devices labelled `client=<client>`; `spec` overrides fields whole. */
export function isvc(name: string, client: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: V,
    kind: "InferenceService",
    metadata: { name },
    spec: { model: "m", clients: { selector: { matchLabels: { client } }, requestsPerSecond: 1 }, resources: { cpu: 100, memoryMiB: 64 }, ...spec },
  };
}

/** Polling lives in libs/testing, with the other test helpers every package shares. */
export { waitFor } from "../wait.js";
