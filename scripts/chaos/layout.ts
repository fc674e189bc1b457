// The deployment's nodes: the simulated fleet (clouds, edge servers and devices in regions, devices
// in client groups of three) and the standalone agents (edge servers labelled pool=standalone),
// plus the names the traffic needs from them. One module, so the fleet process, the agents and
// the traffic agree.
import type { EdgeNodeSpecInput } from "@eiaas/api";

export interface LayoutNode {
  name: string;
  spec: EdgeNodeSpecInput;
  labels: Record<string, string>;
}

export interface Layout {
  fleet: LayoutNode[];
  agents: LayoutNode[];
  /** Client groups (label `group`) with their region: what an InferenceService serves. */
  groups: Array<{ group: string; region: string }>;
  regions: string[];
}

const EDGES_PER_REGION = 5;
const NODES_PER_REGION = 50;
const GROUP_SIZE = 3;

const cloud = (): EdgeNodeSpecInput => ({ tier: "cloud", hardware: "a100", capacity: { cpu: 64_000, memoryMiB: 262_144, gpu: 4 }, compute: { gflops: 10_000 } });
const edge = (parent: string): EdgeNodeSpecInput => ({
  tier: "edge",
  parent,
  hardware: "t4",
  capacity: { cpu: 8_000, memoryMiB: 16_384 },
  compute: { gflops: 1_000 },
  network: { uplinkMbps: 1_000, downlinkMbps: 1_000, rttMs: 10 },
});
const device = (parent: string): EdgeNodeSpecInput => ({
  tier: "device",
  parent,
  hardware: "jetson-nano",
  capacity: { cpu: 4_000, memoryMiB: 2_048 },
  compute: { gflops: 20 },
  power: { computeW: 5, transmitW: 1 },
  network: { uplinkMbps: 40, downlinkMbps: 40, rttMs: 2 },
});

/**
 * `fleetNodes` nodes: a cloud per 100 (at least one), then regions of 50 (5 edge servers under a
 * cloud, devices under the edges, every other device holding training data); `agents` standalone
 * edge servers under the first cloud, in region r0.
 */
export function layout(fleetNodes: number, agents: number): Layout {
  const fleet: LayoutNode[] = [];
  const groups: Layout["groups"] = [];
  const clouds = Math.max(1, Math.round(fleetNodes / 100));
  for (let c = 0; c < clouds; c++) fleet.push({ name: `cloud-${c}`, spec: cloud(), labels: { tier: "cloud" } });
  const rest = fleetNodes - clouds;
  const regions = Math.max(1, Math.floor(rest / NODES_PER_REGION));
  const regionNames: string[] = [];
  for (let r = 0; r < regions; r++) {
    const region = `r${r}`;
    regionNames.push(region);
    const size = r === regions - 1 ? rest - r * NODES_PER_REGION : NODES_PER_REGION;
    for (let e = 0; e < EDGES_PER_REGION; e++) fleet.push({ name: `edge-${r}-${e}`, spec: edge(`cloud-${r % clouds}`), labels: { tier: "edge", region } });
    for (let d = 0; d < size - EDGES_PER_REGION; d++) {
      const group = `g-${r}-${Math.floor(d / GROUP_SIZE)}`;
      if (d % GROUP_SIZE === 0) groups.push({ group, region });
      fleet.push({
        name: `dev-${r}-${d}`,
        spec: device(`edge-${r}-${d % EDGES_PER_REGION}`),
        labels: { tier: "device", region, group, ...(d % 2 === 0 ? { data: "local" } : {}) },
      });
    }
  }
  const standalone: LayoutNode[] = Array.from({ length: agents }, (_, i) => ({
    name: `agent-${i}`,
    spec: { ...edge("cloud-0"), capacity: { cpu: 4_000, memoryMiB: 8_192 } },
    labels: { tier: "edge", region: "r0", pool: "standalone" },
  }));
  return { fleet, agents: standalone, groups, regions: regionNames };
}

/** The command-line flags of `apps/agent/src/main.ts` that describe `node`. */
export function agentSpecArgs(node: LayoutNode): string[] {
  const s = node.spec;
  return [
    "--tier",
    s.tier,
    ...(s.parent ? ["--parent", s.parent] : []),
    ...(s.hardware ? ["--hardware", s.hardware] : []),
    "--cpu",
    String(s.capacity?.cpu ?? 0),
    "--memory-mib",
    String(s.capacity?.memoryMiB ?? 0),
    "--gpu",
    String(s.capacity?.gpu ?? 0),
    "--gflops",
    String(s.compute?.gflops ?? 0),
    "--uplink-mbps",
    String(s.network?.uplinkMbps ?? 0),
    "--downlink-mbps",
    String(s.network?.downlinkMbps ?? 0),
    "--rtt-ms",
    String(s.network?.rttMs ?? 0),
    "--labels",
    Object.entries(node.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
  ];
}
