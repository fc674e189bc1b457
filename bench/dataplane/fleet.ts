// The bench's fleet: hardware classes of deploy/reference/hardware.yaml turned into CPU quotas on
// this machine, in the ratio of their GFLOPS, and into the nodes the production planner sees.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { GflopsByOperator } from "@eiaas/api";
import type { NodeInit } from "@eiaas/scheduling";

const HARDWARE = fileURLToPath(new URL("../../deploy/reference/hardware.yaml", import.meta.url));

export interface HardwareClass {
  name: string;
  tier: "device" | "edge" | "cloud";
  gflops: number;
  computeW: number;
  transmitW: number;
}

/** A class as it runs here: its quota (cores) and the speed the planner is told it has. */
export interface BenchNode {
  name: string;
  hardware: HardwareClass;
  /** `docker run --cpus`. */
  cpus: number;
  /**
   * GFLOPS the planner is told: measured in a container of this quota in the same run (see
   * calibration.ts), as the node's agent measures its cores. Since the quotas keep the classes'
   * ratio, this is the class figure scaled by about the same factor as the quota.
   */
  gflops: number;
  /** The operator classes' speeds, measured alike. */
  gflopsByOperator: GflopsByOperator;
}

/** onnxruntime's speed under a node's quota: general GFLOPS and the operator classes'. */
export interface CoreSpeed {
  gflops: number;
  byOperator: GflopsByOperator;
}

/** The classes of hardware.yaml by name. */
export function hardwareClasses(): Map<string, HardwareClass> {
  const doc = parse(readFileSync(HARDWARE, "utf8")) as { classes: Array<{ name: string; tier: HardwareClass["tier"]; compute: { gflops: number }; power: { computeW: number; transmitW: number } }> };
  return new Map(doc.classes.map((c) => [c.name, { name: c.name, tier: c.tier, gflops: c.compute.gflops, computeW: c.power.computeW, transmitW: c.power.transmitW }]));
}

/**
 * Quotas in the ratio of the classes' GFLOPS, the fastest given `fastestCpus` cores. Docker's
 * smallest quota is 0.01 core: a ratio beyond 100 between the classes cannot be kept.
 */
export function benchNodes(classes: Array<{ role: string; hardware: HardwareClass }>, fastestCpus: number): BenchNode[] {
  const top = Math.max(...classes.map((c) => c.hardware.gflops));
  return classes.map(({ role, hardware }) => {
    const cpus = Math.max(0.01, Math.round((fastestCpus * hardware.gflops * 1000) / top) / 1000);
    if (cpus === 0.01 && (fastestCpus * hardware.gflops) / top < 0.01)
      throw new Error(`class ${hardware.name} would need a quota under docker's 0.01 core (ratio ${Math.round(top / hardware.gflops)}:1 to the fastest)`);
    // Speeds are measured once the testbed runs (measureNodeSpeed).
    return { name: role, hardware, cpus, gflops: 0, gflopsByOperator: {} };
  });
}

/** The planner's view: the device (client) under the edge server, its uplink at `mbps`. */
export function plannerNodes(device: BenchNode, edge: BenchNode, mbps: number, rttMs: number): NodeInit[] {
  const power = (n: BenchNode) => ({ computeW: n.hardware.computeW, transmitW: n.hardware.transmitW });
  return [
    {
      name: device.name,
      tier: "device",
      parent: edge.name,
      labels: { role: "client" },
      gflops: device.gflops,
      gflopsByOperator: device.gflopsByOperator,
      capacity: { cpu: 4000, memoryMiB: 8192, gpu: 0 },
      power: power(device),
      network: { uplinkMbps: mbps, downlinkMbps: mbps, rttMs },
    },
    { name: edge.name, tier: "edge", gflops: edge.gflops, gflopsByOperator: edge.gflopsByOperator, capacity: { cpu: 16000, memoryMiB: 32768, gpu: 0 }, power: power(edge) },
  ];
}
