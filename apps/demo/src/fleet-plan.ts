import type { EdgeNodeSpecInput } from "@eiaas/api";
import type { FleetNode } from "@eiaas/agent";

/** A hardware class of deploy/reference/hardware.yaml (reference data with sources). */
export interface HardwareClass {
  name: string;
  tier: "device" | "edge" | "cloud";
  compute: { gflops: number };
  capacity: { cpu: number; memoryMiB: number; gpu: number; acceleratorTops?: number };
  power: { computeW: number; transmitW: number; idleW: number };
  network: { uplinkMbps: number; downlinkMbps: number; rttMs: number };
}

function spec(hw: HardwareClass, parent?: string): EdgeNodeSpecInput {
  return {
    tier: hw.tier,
    hardware: hw.name,
    ...(parent ? { parent } : {}),
    capacity: { cpu: hw.capacity.cpu, memoryMiB: hw.capacity.memoryMiB, gpu: hw.capacity.gpu, acceleratorTops: hw.capacity.acceleratorTops ?? 0 },
    compute: { gflops: hw.compute.gflops },
    power: hw.power,
    network: hw.network,
  };
}

/**
 * The demo fleet: `total` nodes, about 1 cloud per 50, 3 edge servers per 16, the rest devices
 * (default 16 → 1 cloud, 3 edge, 12 devices). Edge servers hang off the clouds and devices off the
 * edge servers round-robin; hardware classes rotate through the reference data's tiers. Every
 * other device holds training data (`data: local`).
 */
export function demoFleet(classes: readonly HardwareClass[], total = 16): FleetNode[] {
  const of = (tier: HardwareClass["tier"]) => classes.filter((c) => c.tier === tier);
  const [clouds, edges, devices] = [of("cloud"), of("edge"), of("device")];
  if (!clouds.length || !edges.length || !devices.length) throw new Error("hardware.yaml needs a device, an edge and a cloud class");
  const nClouds = Math.max(1, Math.round(total / 50));
  const nEdges = Math.max(1, Math.round((total * 3) / 16));
  const nDevices = Math.max(1, total - nClouds - nEdges);
  const nodes: FleetNode[] = [];
  for (let i = 0; i < nClouds; i++) nodes.push({ name: `cloud-${i + 1}`, spec: spec(clouds[i % clouds.length]!), labels: { tier: "cloud" } });
  for (let i = 0; i < nEdges; i++) {
    nodes.push({ name: `edge-${i + 1}`, spec: spec(edges[i % edges.length]!, `cloud-${(i % nClouds) + 1}`), labels: { tier: "edge" } });
  }
  for (let i = 0; i < nDevices; i++) {
    const hw = devices[i % devices.length]!;
    nodes.push({
      name: `device-${String(i + 1).padStart(2, "0")}`,
      spec: spec(hw, `edge-${(i % nEdges) + 1}`),
      labels: { tier: "device", hardware: hw.name, ...(i % 2 === 0 ? { data: "local" } : {}) },
    });
  }
  return nodes;
}
