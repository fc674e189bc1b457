import type { InferenceServiceSpecInput, ModelSpec } from "@eiaas/api";
import { describe, expect, it } from "vitest";
import type { NodeInit } from "../snapshot/snapshot.js";
import { cloud, device, edge, layers, model, service, snapshot } from "../testing/builders.js";
import { planInference } from "./planner.js";
import type { InferencePlan } from "./types.js";

/**
 * A 3-layer model: input 1000 B, outputs 500 / 100 / 10 B, 10 ms per layer on "dev", 1 ms on
 * "srv", 1 MiB per layer. Over an 8 Mbit/s link with no RTT, sending D bytes takes D/1000 ms, so
 * to an edge server: j=0: 1 + 3 = 4; j=1: 10 + 0.5 + 2 = 12.5; j=2: 20 + 0.1 + 1 = 21.1; j=3: 30.
 * The edge's link to the cloud adds 1 ms of RTT, so the cloud is 1 ms further: j=0: 5, j=1: 13.5.
 */
const m3 = (o: Partial<Parameters<typeof model>[0]> = {}): ModelSpec =>
  model({
    inputBytes: 1000,
    accuracy: 0.9,
    layers: layers(3, { outputBytes: [500, 100, 10], memoryMiB: 1 }),
    profiles: [
      { hardware: "dev", layerLatencyMs: [10, 10, 10], layerPowerW: [1, 1, 1] },
      { hardware: "srv", layerLatencyMs: [1, 1, 1] },
    ],
    ...o,
  });

const link = (uplinkMbps: number, rttMs = 0) => ({ network: { uplinkMbps, downlinkMbps: uplinkMbps, rttMs } });
const dev = (name = "dev", parent = "edge", o: Partial<NodeInit> = {}) => device(name, parent, { hardware: "dev", ...link(8), power: { transmitW: 1, computeW: 5 }, ...o });
const fleet = (...extra: NodeInit[]) => [cloud("cloud", { hardware: "srv" }), edge("edge", { hardware: "srv", parent: "cloud", ...link(8, 1) }), ...extra];

function scheduled(plan: InferencePlan) {
  if (plan.status !== "Scheduled") throw new Error(`expected Scheduled: ${plan.message}`);
  return plan;
}
function unschedulable(plan: InferencePlan) {
  if (plan.status !== "Unschedulable") throw new Error("expected Unschedulable");
  return plan;
}
const plan = (nodes: NodeInit[], spec: Partial<InferenceServiceSpecInput> = {}, mdl: ModelSpec = m3()) => planInference(snapshot(nodes), service("svc", spec), mdl);

describe("planInference: architectures", () => {
  it.each([
    ["auto", "edge", 0, "edge"],
    ["device", "device", 3, undefined],
    ["edge", "edge", 0, "edge"],
    ["cloud", "cloud", 0, "cloud"],
    ["edge-device", "edge-device", 1, "edge"],
    ["cloud-device", "cloud-device", 1, "cloud"],
  ] as const)("architecture %s → %s, split %d", (want, got, split, tail) => {
    const c = scheduled(plan(fleet(dev()), { architecture: want })).clients[0]!;
    expect(c).toMatchObject({ architecture: got, split });
    expect(c.tailNode).toBe(tail);
  });

  it("edge-cloud needs an edge parent and a cloud server", () => {
    const c = scheduled(plan(fleet(dev()), { architecture: "edge-cloud" })).clients[0]!;
    // j=1: upload 1 + edge 1 + (0.5 + 1) + cloud 2 = 5.5; j=2: 1 + 2 + (0.1 + 1) + 1 = 5.1
    expect(c).toMatchObject({ architecture: "edge-cloud", split: 2, headNode: "edge", tailNode: "cloud" });
    expect(c.predicted.latencyMs).toBeCloseTo(5.1, 12);
    expect(c.predicted.deviceEnergyMj).toBe(1);
    const p = unschedulable(plan([edge("edge", { hardware: "srv" }), dev()], { architecture: "edge-cloud" }));
    expect(p.failures[0]).toMatchObject({ client: "dev", reasons: ["architecture"] });
  });
});

describe("planInference: privacy", () => {
  it("device keeps raw input on the client", () => {
    const c = scheduled(plan(fleet(dev()), { privacy: { rawDataBoundary: "device" } })).clients[0]!;
    expect(c).toMatchObject({ architecture: "edge-device", split: 1 });
  });
  it("edge allows j=0 on an edge server but not on a cloud server", () => {
    expect(scheduled(plan(fleet(dev()), { privacy: { rawDataBoundary: "edge" } })).clients[0]).toMatchObject({ split: 0, tailNode: "edge" });
    const p = unschedulable(plan(fleet(dev()), { privacy: { rawDataBoundary: "edge" }, architecture: "cloud" }));
    expect(p.failures[0]!.reasons).toEqual(["privacy"]);
    expect(p.message).toContain("client dev: privacy (raw data must stay within edge)");
  });
  it("device forbids edge-cloud", () => {
    const p = unschedulable(plan(fleet(dev()), { privacy: { rawDataBoundary: "device" }, architecture: "edge-cloud" }));
    expect(p.failures[0]!.reasons).toEqual(["privacy"]);
  });
});

describe("planInference: candidates and objectives", () => {
  // An exit after layer 1 (head 1 ms on srv) at accuracy 0.7, a variant "small" at 0.8 that is faster.
  const rich = () =>
    m3({
      exits: [
        {
          afterLayer: 1,
          accuracy: 0.7,
          head: {
            flops: 0,
            outputBytes: 10,
            memoryMiB: 0,
            profiles: [
              { hardware: "srv", latencyMs: 0.5 },
              { hardware: "dev", latencyMs: 5 },
            ],
          },
        },
      ],
      variants: [
        {
          name: "small",
          accuracy: 0.8,
          layers: layers(3, { outputBytes: [500, 100, 10], memoryMiB: 1 }),
          profiles: [
            { hardware: "srv", layerLatencyMs: [0.5, 0.5, 0.5] },
            { hardware: "dev", layerLatencyMs: [5, 5, 5] },
          ],
        },
      ],
    });
  it("latency without minAccuracy only considers the full model", () => {
    expect(scheduled(plan(fleet(dev()), {}, rich())).clients[0]).toMatchObject({ variant: "base", exitAfterLayer: 3, predicted: { latencyMs: 4, accuracy: 0.9 } });
  });
  it("latency with minAccuracy considers every chain at or above it", () => {
    // exit: j=0: 1 + 1 + 0.5 = 2.5; small: 1 + 1.5 = 2.5 — a tie broken by higher accuracy (small, 0.8)
    expect(scheduled(plan(fleet(dev()), { slo: { minAccuracy: 0.7 } }, rich())).clients[0]).toMatchObject({ variant: "small", exitAfterLayer: 3, predicted: { latencyMs: 2.5 } });
    expect(scheduled(plan(fleet(dev()), { slo: { minAccuracy: 0.85 } }, rich())).clients[0]).toMatchObject({ variant: "base" });
  });
  it("accuracy takes the most accurate chain meeting the SLO, then the fastest", () => {
    expect(scheduled(plan(fleet(dev()), { objective: "accuracy" }, rich())).clients[0]).toMatchObject({ variant: "base", split: 0 });
    expect(scheduled(plan(fleet(dev()), { objective: "accuracy", slo: { latencyMs: 3 } }, rich())).clients[0]).toMatchObject({ variant: "small", predicted: { accuracy: 0.8 } });
    // 2.5 ms is also the exit's best; only "small" (0.8) and the exit (0.7) meet 2.5 ms.
    expect(scheduled(plan(fleet(dev()), { objective: "accuracy", slo: { latencyMs: 2.5 } }, rich())).clients[0]).toMatchObject({ variant: "small" });
  });
  it("accuracy below minAccuracy everywhere fails with reason accuracy", () => {
    const p = unschedulable(plan(fleet(dev()), { slo: { minAccuracy: 0.95 } }, rich()));
    expect(p.failures[0]!.reasons).toEqual(["accuracy"]);
    expect(p.message).toContain("accuracy (no chain reaches minAccuracy 0.95; the best has 0.9)");
  });
  it("energy minimises device energy within the SLO", () => {
    // energy: j=0: 1·1 = 1 mJ; j=3: 30 ms·1 W = 30 mJ
    expect(scheduled(plan(fleet(dev()), { objective: "energy" })).clients[0]).toMatchObject({ split: 0, predicted: { deviceEnergyMj: 1 } });
  });
  it("maxDeviceEnergyMj is a limit, reported as slo", () => {
    const p = unschedulable(plan(fleet(dev()), { slo: { maxDeviceEnergyMj: 0.5 } }));
    expect(p.failures[0]!.reasons).toEqual(["slo"]);
    expect(p.message).toContain("lowest device energy 1 mJ > 0.5 mJ");
  });
  it("uses flops / gflops and power.computeW without a measured profile", () => {
    const noProfiles = model({ inputBytes: 1000, accuracy: 0.9, layers: layers(2, { flops: 1e6, outputBytes: 10 }) });
    // device at 1 GFLOPS: 1 ms per layer; server at 100 GFLOPS: 0.01 ms; device-only = 2 ms, 5 W → 10 mJ
    const nodes = [edge("edge", { gflops: 100 }), dev("dev", "edge", { hardware: "other", gflops: 1 })];
    const c = scheduled(plan(nodes, { architecture: "device" }, noProfiles)).clients[0]!;
    expect(c.predicted).toEqual({ latencyMs: 2, deviceEnergyMj: 10, accuracy: 0.9, uplinkBytes: 0 });
    const none = unschedulable(plan([edge("edge"), dev("dev", "edge", { hardware: "other" })], { architecture: "device" }, noProfiles));
    expect(none.failures[0]!.reasons).toEqual(["compute"]);
  });
});

describe("planInference: ties", () => {
  it("equal servers: the name that sorts first", () => {
    // two identical edges under one root; the device reaches both through the root
    const nodes = [cloud("root"), edge("b", { hardware: "srv", parent: "root", ...link(1000) }), edge("a", { hardware: "srv", parent: "root", ...link(1000) }), dev("dev", "root")];
    const c = scheduled(plan(nodes, { architecture: "edge" })).clients[0]!;
    expect(c.tailNode).toBe("a");
  });
  it("equal latency at different splits: the smaller j", () => {
    // nothing to send and the device as fast as the server: every split costs 3 ms
    const mdl = m3({
      inputBytes: 0,
      layers: layers(3, { outputBytes: [0, 0, 0], memoryMiB: 1 }),
      profiles: [
        { hardware: "dev", layerLatencyMs: [1, 1, 1] },
        { hardware: "srv", layerLatencyMs: [1, 1, 1] },
      ],
    });
    const c = scheduled(plan(fleet(dev()), {}, mdl)).clients[0]!;
    expect(c).toMatchObject({ split: 0, predicted: { latencyMs: 3 } });
  });
  it("equal chains: the variant name that sorts first", () => {
    const v = (name: string) => ({ name, accuracy: 0.9, layers: layers(3, { outputBytes: [500, 100, 10] }), profiles: m3().profiles });
    const c = scheduled(plan(fleet(dev()), { slo: { minAccuracy: 0.9 } }, m3({ variants: [v("zeta"), v("alpha")] }))).clients[0]!;
    expect(c.variant).toBe("alpha");
  });
});

describe("planInference: resources, load and sharing", () => {
  it("counts the memory of the layers a task runs on each side", () => {
    // the edge has room for the service's 100 MiB plus 1 layer only: j=2 (21.1 ms) beats j=3 (30 ms)
    const nodes = [edge("edge", { hardware: "srv", capacity: { cpu: 1000, memoryMiB: 101, gpu: 0 } }), dev()];
    const p = scheduled(plan(nodes, { resources: { cpu: 0, memoryMiB: 100, gpu: 0 } }));
    expect(p.clients[0]).toMatchObject({ split: 2 });
    expect(p.tasks.map((t) => [t.role, t.node, t.layers, t.resources.memoryMiB])).toEqual([
      ["head", "dev", { from: 1, to: 2 }, 102],
      ["tail", "edge", { from: 3, to: 3 }, 101],
    ]);
    const tiny = [edge("edge", { hardware: "srv", capacity: { cpu: 1000, memoryMiB: 50, gpu: 0 } }), dev("dev", "edge", { capacity: { cpu: 1000, memoryMiB: 50, gpu: 0 } })];
    expect(unschedulable(plan(tiny, { resources: { cpu: 0, memoryMiB: 100, gpu: 0 } })).failures[0]!.reasons).toEqual(["resources"]);
  });

  it("keeps each server's load within capacity, accumulating clients and existing load", () => {
    // j=0 on the edge: 3 ms of server time per request; 200 rps → 0.6 busy per client. The second
    // client no longer fits the edge and goes to the cloud (1 ms further, 4 GPUs).
    const nodes = fleet(dev("d1"), dev("d2"));
    const p = scheduled(plan(nodes, { clients: { selector: { matchLabels: { role: "client" } }, requestsPerSecond: 200 } }));
    expect(p.clients.map((c) => [c.client, c.tailNode, c.split])).toEqual([
      ["d1", "edge", 0],
      ["d2", "cloud", 0],
    ]);
    expect(p.tasks.map((t) => [t.node, t.load])).toEqual([
      ["cloud", 0.6],
      ["edge", 0.6],
    ]);
    const nodes2 = fleet(dev("d1"), dev("d2"), dev("d3"));
    const q = unschedulable(plan(nodes2, { clients: { selector: { matchLabels: { role: "client" } }, requestsPerSecond: 200 }, architecture: "edge" }));
    expect(q.failures).toEqual([expect.objectContaining({ client: "d2", reasons: ["load"] }), expect.objectContaining({ client: "d3", reasons: ["load"] })]);
    const gpuEdge = [edge("edge", { hardware: "srv", capacity: { cpu: 1, memoryMiB: 1000, gpu: 2 } }), dev("d1"), dev("d2"), dev("d3")];
    expect(plan(gpuEdge, { clients: { selector: { matchLabels: { role: "client" } }, requestsPerSecond: 200 }, architecture: "edge" }).status).toBe("Scheduled");
    const busy = [edge("edge", { hardware: "srv", allocated: { load: 0.5 } }), dev("d1")];
    expect(unschedulable(plan(busy, { clients: { selector: { matchLabels: { role: "client" } }, requestsPerSecond: 200 }, architecture: "edge" })).failures[0]!.reasons).toEqual(["load"]);
  });

  it("clients on one server share one task whose range covers all their layers", () => {
    // d2's hardware is fast except on layer 3: j=2 costs 1 + 1 + 0.1 + 1 = 3.1 (j=0: 4, j=3: 12)
    const mdl = m3({ profiles: [...m3().profiles, { hardware: "mid", layerLatencyMs: [1, 1, 10] }] });
    const nodes = [edge("edge", { hardware: "srv" }), dev("d1"), dev("d2", "edge", { hardware: "mid" })];
    const p = scheduled(plan(nodes, { resources: { cpu: 100, memoryMiB: 10, gpu: 0 } }, mdl));
    expect(p.clients.map((c) => [c.client, c.split])).toEqual([
      ["d1", 0],
      ["d2", 2],
    ]);
    expect(p.tasks.map((t) => [t.role, t.node, t.layers, t.resources, t.clients])).toEqual([
      ["head", "d2", { from: 1, to: 2 }, { cpu: 100, memoryMiB: 12, gpu: 0 }, ["d2"]],
      ["serve", "edge", { from: 1, to: 3 }, { cpu: 100, memoryMiB: 13, gpu: 0 }, ["d1", "d2"]],
    ]);
  });

  it("places all clients or none and then leaves the snapshot untouched", () => {
    const nodes = [
      edge("edge", { hardware: "srv", capacity: { cpu: 150, memoryMiB: 1000, gpu: 0 } }),
      dev("d1", "edge", { capacity: { cpu: 0, memoryMiB: 0, gpu: 0 } }),
      dev("d2", "edge", { capacity: { cpu: 0, memoryMiB: 0, gpu: 0 } }),
    ];
    const s = snapshot(nodes);
    // The clients cannot run layers themselves; 300 rps × 3 ms of edge time fits one client, not two.
    const p = planInference(s, service("svc", { resources: { cpu: 100, memoryMiB: 0, gpu: 0 }, clients: { selector: { matchLabels: { role: "client" } }, requestsPerSecond: 300 } }), m3());
    expect(unschedulable(p).failures.map((f) => [f.client, f.reasons])).toEqual([["d2", ["resources", "load"]]]);
    expect(s.allocationOf(s.nodeIndex("edge"))).toEqual({ cpu: 0, memoryMiB: 0, gpu: 0, load: 0 });
    expect([...s.tasks()]).toEqual([]);
  });

  it("reserves a placed service in the snapshot unless asked not to", () => {
    const s = snapshot(fleet(dev()));
    scheduled(planInference(s, service("svc", { resources: { cpu: 100, memoryMiB: 0, gpu: 0 } }), m3(), { reserve: false }));
    expect([...s.tasks()]).toEqual([]);
    const p = scheduled(planInference(s, service("svc", { resources: { cpu: 100, memoryMiB: 0, gpu: 0 } }), m3()));
    expect([...s.tasks()].map((t) => [t.name, t.owner])).toEqual([["svc/serve/edge/base/3", "InferenceService/svc"]]);
    expect(s.allocationOf(s.nodeIndex("edge"))).toMatchObject({ cpu: 100, memoryMiB: 3 });
    expect(s.usageOf("default")).toEqual({ cpu: 100, memoryMiB: 3, gpu: 0, tasks: 1 });
    expect(p.tasks[0]).toMatchObject({ priority: 0, load: 0 });
  });

  it("checks the tenant's quota for the whole service", () => {
    const s = snapshot(fleet(dev()), { tenants: [{ name: "default", quota: { cpu: 50 } }] });
    const p = unschedulable(planInference(s, service("svc", { resources: { cpu: 100, memoryMiB: 0, gpu: 0 } }), m3()));
    expect(p.failures[0]!.reasons).toEqual(["quota"]);
    expect(p.message).toBe('exceeded quota of tenant "default": cpu (used 0 + requested 100 > 50)');
  });

  it("runs a whole chain on a cordoned client never, and on a device with room", () => {
    const cordoned = unschedulable(plan([edge("edge", { hardware: "srv" }), dev("dev", "edge", { unschedulable: true })], { architecture: "device" }));
    expect(cordoned.failures[0]!.reasons).toEqual(["resources"]);
    const p = scheduled(plan(fleet(dev()), { architecture: "device" }));
    expect(p.tasks.map((t) => [t.role, t.node, t.layers])).toEqual([["serve", "dev", { from: 1, to: 3 }]]);
  });
});

describe("planInference: clients and servers", () => {
  it("skips clients that are not Ready and fails when none is left", () => {
    const p = scheduled(plan(fleet(dev("d1"), dev("d2", "edge", { ready: false }))));
    expect(p.clients.map((c) => c.client)).toEqual(["d1"]);
    expect(p.skippedClients).toEqual(["d2"]);
    expect(p.message).toContain("skipped clients that are not Ready: d2");
    const q = unschedulable(plan(fleet(dev("d2", "edge", { ready: false }))));
    expect(q.failures[0]).toMatchObject({ reasons: ["clients"], message: "no Ready node matches spec.clients.selector (not Ready: d2)" });
  });
  it("fails without the model", () => {
    const p = unschedulable(planInference(snapshot(fleet(dev())), service("svc", { model: "nope" }), undefined));
    expect(p.message).toBe('model "nope" not found in namespace "default"');
  });
  it("uses only servers passing nodeSelector and tolerations, and says which were filtered", () => {
    const nodes = [cloud("cloud", { hardware: "srv", labels: { gpu: "yes" } }), edge("edge", { hardware: "srv", parent: "cloud", ...link(8, 1), taints: [{ key: "k", effect: "NoSchedule" }] }), dev()];
    expect(scheduled(plan(nodes, { nodeSelector: { gpu: "yes" } })).clients[0]!.tailNode).toBe("cloud");
    expect(scheduled(plan(nodes, {})).clients[0]!.tailNode).toBe("cloud");
    expect(scheduled(plan(nodes, { tolerations: [{ key: "k", operator: "Exists" }] })).clients[0]!.tailNode).toBe("edge");
    const p = unschedulable(plan(nodes, { nodeSelector: { gpu: "no" }, slo: { latencyMs: 20 } }));
    expect(p.message).toContain("servers filtered out: 2 node(s) didn't match node selector");
  });
  it("reports an unreachable server as network", () => {
    const p = unschedulable(plan([edge("far", { hardware: "srv" }), dev("dev", undefined)], { architecture: "edge" }));
    expect(p.failures[0]!.reasons).toEqual(["network"]);
  });
});

describe("planInference: task slots", () => {
  const busy = { tasks: [{ name: "other", namespace: "x", node: "edge", resources: { cpu: 0, memoryMiB: 0, gpu: 0 } }] };
  const cams = () => [dev("dev", "edge", { labels: { cam: "1" } }), dev("dev2", "edge", { labels: { cam: "1" } })];
  const slotted = (tasks: number) => fleet(...cams()).map((n) => (n.name === "edge" ? { ...n, capacity: { ...n.capacity, tasks } } : n));
  const clients = { selector: { matchLabels: { cam: "1" } }, requestsPerSecond: 1 };

  it("a server with no free task slot is passed over for the next best", () => {
    const c = scheduled(planInference(snapshot(slotted(1), busy), service("svc", { clients }), m3())).clients;
    expect(c.map((x) => x.tailNode)).toEqual(["cloud", "cloud"]);
    // Without the limit both tails would go to the faster edge server.
    const free = scheduled(planInference(snapshot(fleet(...cams()), busy), service("svc", { clients }), m3())).clients;
    expect(free.map((x) => x.tailNode)).toEqual(["edge", "edge"]);
  });

  it("clients sharing one task on a server need one slot, not one each", () => {
    const p = scheduled(planInference(snapshot(slotted(1)), service("svc", { clients, architecture: "edge" }), m3()));
    expect(p.clients.map((x) => x.tailNode)).toEqual(["edge", "edge"]);
    expect(p.tasks.filter((t) => t.node === "edge")).toHaveLength(1);
  });

  it("is unschedulable when the only allowed server has no slot left", () => {
    const p = unschedulable(planInference(snapshot(slotted(1), busy), service("svc", { clients, architecture: "edge" }), m3()));
    expect(p.message).toMatch(/tasks|resources|fit/i);
  });
});
