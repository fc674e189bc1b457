/**
 * A deliberately naive inference planner for one client, written straight from design.md §5 without
 * any of the fast planner's machinery (no prefix sums, no shared tasks, no pruning): it lists every
 * option, filters the feasible ones and sorts them. Property tests check the real planner against it.
 */
import type { ConcreteArchitecture, LayerProfile, ModelSpec, Toleration } from "@eiaas/api";
import type { InferenceServiceInput } from "../inference/types.js";
import { fitsWithin } from "../snapshot/capacity.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import type { SnapshotNode } from "../snapshot/types.js";

export interface ReferenceOption {
  architecture: ConcreteArchitecture;
  split: number;
  headNode?: string;
  tailNode?: string;
  variant: string;
  exitAfterLayer: number;
  latencyMs: number;
  deviceEnergyMj: number;
  accuracy: number;
  uplinkBytes: number;
}

interface RefLayer {
  flops: number;
  outputBytes: number;
  memoryMiB: number;
  latency: (hw: string) => number | undefined;
  power: (hw: string) => number | undefined;
}

interface RefChain {
  variant: string;
  exitAfterLayer: number;
  accuracy: number;
  inputBytes: number;
  layers: RefLayer[];
}

function chainsOf(model: ModelSpec): RefChain[] {
  const out: RefChain[] = [];
  const build = (variant: string, accuracy: number, inputBytes: number, layers: ModelSpec["layers"], profiles: LayerProfile[], exits: ModelSpec["exits"]) => {
    const base = (upTo: number): RefLayer[] =>
      layers.slice(0, upTo).map((l, i) => ({
        flops: l.flops,
        outputBytes: l.outputBytes,
        memoryMiB: l.memoryMiB,
        latency: (hw) => profiles.find((p) => p.hardware === hw)?.layerLatencyMs[i],
        power: (hw) => profiles.find((p) => p.hardware === hw)?.layerPowerW?.[i],
      }));
    out.push({ variant, exitAfterLayer: layers.length, accuracy, inputBytes, layers: base(layers.length) });
    for (const e of exits) {
      const head: RefLayer = {
        flops: e.head.flops,
        outputBytes: e.head.outputBytes,
        memoryMiB: e.head.memoryMiB,
        latency: (hw) => e.head.profiles.find((p) => p.hardware === hw)?.latencyMs,
        power: (hw) => e.head.profiles.find((p) => p.hardware === hw)?.powerW,
      };
      out.push({ variant, exitAfterLayer: e.afterLayer, accuracy: e.accuracy, inputBytes, layers: [...base(e.afterLayer), head] });
    }
  };
  build("base", model.accuracy, model.inputBytes, model.layers, model.profiles, model.exits);
  for (const v of model.variants) build(v.name, v.accuracy, v.inputBytes ?? model.inputBytes, v.layers, v.profiles ?? [], v.exits ?? []);
  return out;
}

const T = (l: RefLayer, n: SnapshotNode) => l.latency(n.hardware) ?? (l.flops === 0 ? 0 : n.gflops > 0 ? l.flops / (n.gflops * 1e6) : Infinity);
const P = (l: RefLayer, n: SnapshotNode) => l.power(n.hardware) ?? n.power.computeW;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function ancestors(s: Snapshot, n: SnapshotNode): SnapshotNode[] {
  const out = [n];
  for (let p = n.parent; p !== undefined;) {
    const next = s.node(p);
    if (!next || out.includes(next)) break;
    out.push(next);
    p = next.parent;
  }
  return out;
}

/** 8·D/(B·1000) + RTT over the tree path, or Infinity when there is none. */
function transfer(s: Snapshot, from: SnapshotNode, to: SnapshotNode, bytes: number): { wire: number; rtt: number } {
  const up = ancestors(s, from);
  const down = ancestors(s, to);
  const lca = up.find((x) => down.includes(x));
  if (!lca) return { wire: Infinity, rtt: Infinity };
  const goingUp = up.slice(0, up.indexOf(lca));
  const goingDown = down.slice(0, down.indexOf(lca));
  const b = Math.min(...goingUp.map((x) => x.network.uplinkMbps), ...goingDown.map((x) => x.network.downlinkMbps));
  const rtt = sum([...goingUp, ...goingDown].map((x) => x.network.rttMs));
  const wire = b === Infinity ? 0 : b > 0 ? (8 * bytes) / (b * 1000) : Infinity;
  return { wire, rtt };
}

function tolerated(taints: SnapshotNode["taints"], tolerations: readonly Toleration[]): boolean {
  return taints.every((t) =>
    tolerations.some(
      (o) =>
        (o.effect === undefined || o.effect === t.effect) &&
        (o.key === undefined || o.key === "" || o.key === t.key) &&
        ((o.operator ?? "Equal") === "Exists" || (!!o.key && (o.value ?? "") === (t.value ?? ""))),
    ),
  );
}

const close = (a: number, b: number) => a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
const within = (v: number, limit: number | undefined) => limit === undefined || v <= limit || close(v, limit);

/** The nodes that may serve the client: Ready, schedulable, edge or cloud, tolerated and selected. */
function referenceServers(s: Snapshot, spec: InferenceServiceInput["spec"], client: SnapshotNode): SnapshotNode[] {
  return s.nodes.filter(
    (n) => n !== client && n.tier !== "device" && n.ready && !n.unschedulable && tolerated(n.taints, spec.tolerations) && Object.entries(spec.nodeSelector).every(([k, v]) => n.labels[k] === v),
  );
}

/** Every feasible option for one client, best first. */
export function referencePlan(s: Snapshot, svc: InferenceServiceInput, model: ModelSpec, clientName: string): ReferenceOption[] {
  const spec = svc.spec;
  const client = s.node(clientName)!;
  // The capacity rules are the library's (capacity.ts, tested on their own): this oracle checks the search.
  const fits = (n: SnapshotNode, mem: number) => {
    const a = s.allocationOf(n.index);
    const r = spec.resources;
    return fitsWithin(a.cpu, r.cpu, n.capacity.cpu) && fitsWithin(a.memoryMiB, r.memoryMiB + mem, n.capacity.memoryMiB) && fitsWithin(a.gpu, r.gpu, n.capacity.gpu);
  };
  const loadOk = (n: SnapshotNode, ms: number) => fitsWithin(s.allocationOf(n.index).load, (spec.clients.requestsPerSecond * ms) / 1000, n.loadCapacity);
  const servers = referenceServers(s, spec, client);
  const all = chainsOf(model);
  const min = spec.slo.minAccuracy;
  const pool = spec.objective === "accuracy" || min !== undefined ? all : all.slice(0, 1);
  const chains = pool.filter((c) => min === undefined || c.accuracy >= min);
  const options: ReferenceOption[] = [];
  const clientOk = client.ready && !client.unschedulable;
  for (const c of chains) {
    const n = c.layers.length;
    const D = (j: number) => (j === 0 ? c.inputBytes : c.layers[j - 1]!.outputBytes);
    const mem = (from: number, to: number) => sum(c.layers.slice(from - 1, to).map((l) => l.memoryMiB));
    const tc = (j: number) => sum(c.layers.slice(0, j).map((l) => T(l, client)));
    const ec = (j: number) =>
      sum(
        c.layers.slice(0, j).map((l) => {
          const t = T(l, client);
          return t === 0 ? 0 : t * P(l, client);
        }),
      );
    const ts = (srv: SnapshotNode, j: number) => sum(c.layers.slice(j).map((l) => T(l, srv)));
    const push = (o: Omit<ReferenceOption, "variant" | "exitAfterLayer" | "accuracy">) => options.push({ ...o, variant: c.variant, exitAfterLayer: c.exitAfterLayer, accuracy: c.accuracy });
    if (clientOk && fits(client, mem(1, n))) push({ architecture: "device", split: n, headNode: client.name, latencyMs: tc(n), deviceEnergyMj: ec(n), uplinkBytes: 0 });
    for (const srv of servers) {
      const cloud = srv.tier === "cloud";
      for (let j = 0; j < n; j++) {
        if (j === 0 && (spec.privacy.rawDataBoundary === "device" || (spec.privacy.rawDataBoundary === "edge" && cloud))) continue;
        if (j > 0 && !(clientOk && fits(client, mem(1, j)))) continue;
        if (!fits(srv, mem(j + 1, n)) || !loadOk(srv, ts(srv, j))) continue;
        const { wire, rtt } = transfer(s, client, srv, D(j));
        push({
          architecture: j === 0 ? (cloud ? "cloud" : "edge") : cloud ? "cloud-device" : "edge-device",
          split: j,
          ...(j > 0 ? { headNode: client.name } : {}),
          tailNode: srv.name,
          latencyMs: tc(j) + (wire + rtt) + ts(srv, j),
          deviceEnergyMj: ec(j) + client.power.transmitW * wire,
          uplinkBytes: D(j),
        });
      }
    }
    const edge = client.parent !== undefined ? s.node(client.parent) : undefined;
    if (edge && edge.tier === "edge" && servers.includes(edge) && spec.privacy.rawDataBoundary !== "device") {
      for (const srv of servers.filter((x) => x.tier === "cloud" && x !== edge)) {
        for (let j = 1; j < n; j++) {
          if (!fits(edge, mem(1, j)) || !fits(srv, mem(j + 1, n)) || !loadOk(edge, sum(c.layers.slice(0, j).map((l) => T(l, edge)))) || !loadOk(srv, ts(srv, j))) continue;
          const up = transfer(s, client, edge, D(0));
          const mid = transfer(s, edge, srv, D(j));
          push({
            architecture: "edge-cloud",
            split: j,
            headNode: edge.name,
            tailNode: srv.name,
            latencyMs: up.wire + up.rtt + sum(c.layers.slice(0, j).map((l) => T(l, edge))) + (mid.wire + mid.rtt) + ts(srv, j),
            deviceEnergyMj: client.power.transmitW * (up.wire + up.rtt),
            uplinkBytes: D(0),
          });
        }
      }
    }
  }
  const feasible = options.filter(
    (o) =>
      (spec.architecture === "auto" || o.architecture === spec.architecture) &&
      Number.isFinite(o.latencyMs) &&
      within(o.latencyMs, spec.slo.latencyMs) &&
      within(o.deviceEnergyMj, spec.slo.maxDeviceEnergyMj),
  );
  return feasible.sort((a, b) => compare(spec.objective, a, b));
}

function cmpNum(a: number, b: number, lowerFirst: boolean): number {
  if (close(a, b)) return 0;
  return a < b === lowerFirst ? -1 : 1;
}

function cmpStr(a: string | undefined, b: string | undefined): number {
  const x = a ?? "";
  const y = b ?? "";
  return x < y ? -1 : x > y ? 1 : 0;
}

/** design.md §5's order: the objective, then higher accuracy, smaller j, server name, variant name. */
export function compare(objective: string, a: ReferenceOption, b: ReferenceOption): number {
  let c = 0;
  if (objective === "accuracy") c = cmpNum(a.accuracy, b.accuracy, false) || cmpNum(a.latencyMs, b.latencyMs, true);
  else if (objective === "energy") c = cmpNum(a.deviceEnergyMj, b.deviceEnergyMj, true);
  else c = cmpNum(a.latencyMs, b.latencyMs, true);
  return c || cmpNum(a.accuracy, b.accuracy, false) || a.split - b.split || cmpStr(a.tailNode, b.tailNode) || cmpStr(a.variant, b.variant);
}
