// The simulated fleet and workloads of bench:dispatch: nodes written straight into Postgres.
import { API_VERSION, edgeNodeSpec, modelSpec, type KindInfo } from "@eiaas/api";
import type { ObjectStore, StoredObject } from "@eiaas/db";
import { CLIENTS_PER_SERVICE, MODEL, NODE, NS, TENANT } from "./config.js";

// Per 100 nodes, 10 edge servers and 90 devices in one region (its clouds apart); 5
// devices per client group. A service serves one group, on servers of its region (nodeSelector).
export interface Fleet {
  nodes: number;
  groups: string[];
  regionOf: Map<string, string>;
}

export function fleetObjects(store: ObjectStore, size: number): { objects: StoredObject[]; fleet: Fleet } {
  const objects: StoredObject[] = [];
  const regionOf = new Map<string, string>();
  const groups: string[] = [];
  const clouds = Math.max(1, Math.round(size / 500));
  const node = (name: string, labels: Record<string, string>, spec: Record<string, unknown>) =>
    objects.push(
      store.prepareCreate(NODE, {
        apiVersion: API_VERSION,
        metadata: { name, labels },
        // Defaults filled as the API's validation does.
        spec: edgeNodeSpec.parse(spec),
        status: { phase: "Ready", conditions: [{ type: "Ready", status: "True", reason: "AgentHeartbeat", message: "", lastTransitionTime: new Date().toISOString() }] },
      } as any),
    );
  for (let c = 0; c < clouds; c++) node(`cloud-${c}`, { tier: "cloud" }, { tier: "cloud", hardware: "a100", capacity: { cpu: 256_000, memoryMiB: 1_048_576, gpu: 8 }, compute: { gflops: 20_000 } });
  const regions = Math.floor((size - clouds) / 100);
  let devices = 0;
  for (let r = 0; r < regions; r++) {
    const region = `r${r}`;
    for (let e = 0; e < 10; e++) {
      node(
        `edge-${r}-${e}`,
        { tier: "edge", region },
        {
          tier: "edge",
          parent: `cloud-${r % clouds}`,
          hardware: "rtx3060",
          capacity: { cpu: 64_000, memoryMiB: 131_072, gpu: 1 },
          compute: { gflops: 2_000 },
          network: { uplinkMbps: 1000, downlinkMbps: 1000, rttMs: 5 },
        },
      );
    }
    const perRegion = r === regions - 1 ? size - clouds - regions * 10 - devices : 90;
    for (let d = 0; d < perRegion; d++) {
      const name = `dev-${r}-${d}`;
      const group = `g-${r}-${Math.floor(d / CLIENTS_PER_SERVICE)}`;
      if (d % CLIENTS_PER_SERVICE === 0) {
        groups.push(group);
        regionOf.set(group, region);
      }
      node(
        name,
        { tier: "device", region, group },
        {
          tier: "device",
          parent: `edge-${r}-${d % 10}`,
          hardware: "rpi4",
          capacity: { cpu: 64_000, memoryMiB: 65_536 },
          compute: { gflops: 10 },
          power: { computeW: 5, transmitW: 1.5 },
          network: { uplinkMbps: 50, downlinkMbps: 100, rttMs: 4 },
        },
      );
      devices++;
    }
  }
  return { objects, fleet: { nodes: objects.length, groups, regionOf } };
}

const MODEL_SPEC = {
  inputBytes: 150_528,
  accuracy: 0.72,
  layers: Array.from({ length: 8 }, (_, i) => ({ name: `l${i}`, flops: 5e7 * (1 + (i % 3)), outputBytes: Math.round(200_000 / (i + 1)), memoryMiB: 2 })),
};

export function serviceObject(name: string, group: string, region: string) {
  return {
    apiVersion: API_VERSION,
    kind: "InferenceService",
    metadata: { name, namespace: NS },
    spec: {
      model: "m",
      clients: { selector: { matchLabels: { group } }, requestsPerSecond: 0.5 },
      resources: { cpu: 10, memoryMiB: 16 },
      nodeSelector: { region },
    },
  };
}

export async function insertBatched(store: ObjectStore, kind: KindInfo, objects: StoredObject[]): Promise<void> {
  for (let i = 0; i < objects.length; i += 1000) {
    await store.applyBatch(objects.slice(i, i + 1000).map((object) => ({ type: "create" as const, kind, object })));
  }
}

export async function seed(store: ObjectStore, size: number): Promise<Fleet> {
  // The latency stage creates ~100 InferenceServices a second through the API, thousands in all:
  // past the server's default object-count caps, so the tenant sets its own.
  const counts = { "count/models": 1_000_000, "count/inferenceservices": 1_000_000, "count/trainingjobs": 1_000_000 };
  await store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: NS }, spec: { quota: counts } } as any);
  await store.create(MODEL, { apiVersion: API_VERSION, metadata: { name: "m", namespace: NS }, spec: modelSpec.parse(MODEL_SPEC) } as any);
  const { objects, fleet } = fleetObjects(store, size);
  await insertBatched(store, NODE, objects);
  return fleet;
}
