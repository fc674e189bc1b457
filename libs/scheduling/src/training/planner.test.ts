import type { TrainingJobSpecInput } from "@eiaas/api";
import { describe, expect, it } from "vitest";
import type { NodeInit } from "../snapshot/snapshot.js";
import { cloud, device, edge, layers, model, snapshot, trainingJob } from "../testing/builders.js";
import { planTraining, type TrainingPlanResult } from "./planner.js";

const net = (up: number, rtt: number) => ({ network: { uplinkMbps: up, downlinkMbps: up, rttMs: rtt } });
const data = { labels: { data: "yes" } };

/**
 *            cloud
 *     e1 (100 Mb/s, 10 ms)     e2 (50 Mb/s, 20 ms)
 *   d1 (20)   d2 (10)        d3 (20)   d4 (5)       (devices: 5 ms RTT, all hold data)
 */
const fleet = (o: { extra?: NodeInit[]; d4?: Partial<NodeInit> } = {}): NodeInit[] => [
  cloud("cloud"),
  edge("e1", { parent: "cloud", ...net(100, 10) }),
  edge("e2", { parent: "cloud", ...net(50, 20) }),
  device("d1", "e1", { ...net(20, 5), ...data }),
  device("d2", "e1", { ...net(10, 5), ...data }),
  device("d3", "e2", { ...net(20, 5), ...data }),
  device("d4", "e2", { ...net(5, 5), ...data, ...o.d4 }),
  ...(o.extra ?? []),
];
/** One layer of 1 MiB: the model is 2^20 bytes, 8388.608 / B ms to send at B Mbit/s. */
const mdl = model({ inputBytes: 1, accuracy: 0.9, layers: layers(1, { memoryMiB: 1 }) });
const job = (spec: Partial<TrainingJobSpecInput>) => trainingJob("train", spec);

function scheduled(r: TrainingPlanResult) {
  if (r.status !== "Scheduled") throw new Error(r.message);
  return r;
}

describe("planTraining: federated", () => {
  it("takes the fastest uplinks (then names) up to max and places the aggregator minimising the slowest model upload", () => {
    // participants d1 (20), d3 (20), d2 (10). Slowest upload to e1: d2, 8388.608/10 + 5 = 843.86 ms;
    // to the cloud: d2, 838.86 + 15 = 853.86; to e2: d2 via e1 and the cloud, 838.86 + 35 = 873.86.
    const r = scheduled(planTraining(snapshot(fleet()), job({ participants: { min: 1, max: 3 }, aggregation: { localSteps: 4 } }), mdl));
    expect(r.plan).toEqual({ participants: ["d1", "d2", "d3"], aggregator: "e1", localSteps: 4 });
    expect(r.tasks.map((t) => [t.role, t.node, t.resources.memoryMiB])).toEqual([
      ["participant", "d1", 1],
      ["participant", "d2", 1],
      ["participant", "d3", 1],
      ["aggregator", "e1", 1],
    ]);
    expect(r.message).toBe("federated: 3 participant(s), aggregator e1, 4 local step(s) per round");
  });

  it("is a gang: fewer placeable data nodes than min is Unschedulable with the reasons", () => {
    const s = snapshot(fleet({ d4: { ready: false } }));
    const r = planTraining(s, job({ participants: { min: 4 } }), mdl);
    expect(r).toEqual({
      status: "Unschedulable",
      code: "UnschedulableAndUnresolvable",
      reasons: ["participants"],
      message: "participants: 3 data node(s) can take part, need at least 4 (participants.min); d4: node(s) were not ready",
    });
    expect([...s.tasks()]).toEqual([]);
  });

  it("skips data nodes without room and names the resource", () => {
    const r = planTraining(snapshot(fleet()), job({ participants: { min: 4 }, resources: { cpu: 0, memoryMiB: 4096, gpu: 0 } }), mdl);
    expect(r.status).toBe("Unschedulable");
    expect(r.message).toContain("d1: Insufficient memory");
  });

  it("breaks aggregator ties by name", () => {
    const nodes = [
      cloud("cloud", { unschedulable: true }),
      edge("eb", { parent: "cloud", ...net(10, 1) }),
      edge("ea", { parent: "cloud", ...net(10, 1) }),
      device("p", "cloud", { ...net(10, 1), ...data }),
    ];
    expect(scheduled(planTraining(snapshot(nodes), job({}), mdl)).plan.aggregator).toBe("ea");
  });

  it("fails when no edge or cloud node can aggregate", () => {
    const r = planTraining(snapshot([device("p", undefined, data)]), job({}), mdl);
    expect(r).toMatchObject({ status: "Unschedulable", reasons: ["resources"] });
    expect(r.message).toContain("no node can host the aggregator: 1 node(s) had a tier the task does not allow");
  });
});

describe("planTraining: gossip", () => {
  it("has no aggregator and a connected peer graph of at most 3 peers", () => {
    const r = scheduled(planTraining(snapshot(fleet()), job({ mode: "gossip", aggregation: { localSteps: 2 } }), mdl));
    expect(r.plan).toEqual({
      participants: ["d1", "d2", "d3", "d4"],
      localSteps: 2,
      peers: { d1: ["d2", "d3", "d4"], d2: ["d1", "d3", "d4"], d3: ["d1", "d2", "d4"], d4: ["d1", "d2", "d3"] },
    });
    expect(r.tasks.every((t) => t.role === "participant")).toBe(true);
  });
});

describe("planTraining: centralized", () => {
  it("puts the trainer where the slowest data node's upload is shortest", () => {
    // 10^6 bytes: d4 (5 Mb/s) dominates: to e2 1600 + 5, to the cloud 1600 + 25, to e1 1600 + 35.
    const r = scheduled(planTraining(snapshot(fleet()), job({ mode: "centralized", data: { selector: { matchLabels: { data: "yes" } }, sizeBytes: 1e6 } }), mdl));
    expect(r.plan).toEqual({ participants: ["e2"] });
    expect(r.tasks.map((t) => [t.role, t.node])).toEqual([["trainer", "e2"]]);
  });

  it("without data sizes picks the nearest node: smallest worst RTT, then fewest hops, then name", () => {
    // worst RTT: cloud 25 (d3, d4), e1 35, e2 35
    const nearest = job({ mode: "centralized" });
    expect(scheduled(planTraining(snapshot(fleet()), nearest, mdl)).plan.participants).toEqual(["cloud"]);
    const edgeOnly = job({ mode: "centralized", privacy: { rawDataBoundary: "edge" } });
    expect(scheduled(planTraining(snapshot(fleet()), edgeOnly, mdl)).plan.participants).toEqual(["e1"]);
  });

  it("respects the raw-data boundary", () => {
    const r = planTraining(snapshot(fleet()), job({ mode: "centralized", privacy: { rawDataBoundary: "device" } }), mdl);
    expect(r).toMatchObject({ status: "Unschedulable", reasons: ["privacy"] });
    // a single data node that is itself an edge may train in place
    const local = [edge("solo", data)];
    expect(scheduled(planTraining(snapshot(local), job({ mode: "centralized", privacy: { rawDataBoundary: "device" } }), mdl)).plan.participants).toEqual(["solo"]);
  });

  it("needs a Ready data node", () => {
    const nodes = [cloud("cloud"), device("d", "cloud", { ...data, ready: false })];
    expect(planTraining(snapshot(nodes), job({ mode: "centralized" }), mdl)).toMatchObject({ reasons: ["participants"], message: "participants: no Ready node matches spec.data.selector" });
  });
});

describe("planTraining: checks", () => {
  it("fails without the model or data nodes", () => {
    expect(planTraining(snapshot(fleet()), job({}), undefined)).toMatchObject({ reasons: ["model"], message: 'model: model "m" not found in namespace "default"' });
    expect(planTraining(snapshot([cloud("c")]), job({}), mdl)).toMatchObject({ reasons: ["participants"] });
  });

  it("refuses localSteps auto with bad estimates as budget", () => {
    const r = planTraining(
      snapshot(fleet()),
      job({ aggregation: { localSteps: "auto", budget: { seconds: 10 }, estimates: { learningRate: 0.1, beta: 1, delta: 1, rho: 1, phi: 1, localStepSeconds: 5, aggregationSeconds: 5 } } }),
      mdl,
    );
    expect(r).toMatchObject({ status: "Unschedulable", reasons: ["budget"] });
    expect(r.message).toContain("must exceed localStepSeconds + aggregationSeconds");
  });

  it("computes localSteps auto", () => {
    const spec = job({
      aggregation: {
        localSteps: "auto",
        maxLocalSteps: 50,
        budget: { seconds: 1000 },
        estimates: { learningRate: 0.01, beta: 2, delta: 1, rho: 1, phi: 0.1, localStepSeconds: 1, aggregationSeconds: 20 },
      },
    });
    const r = scheduled(planTraining(snapshot(fleet()), spec, mdl));
    expect(r.plan.localSteps).toBeGreaterThan(1);
    expect(r.plan.localSteps).toBeLessThanOrEqual(50);
  });

  it("holds the job to its tenant's quota and leaves nothing reserved", () => {
    const s = snapshot(fleet(), { tenants: [{ name: "default", quota: { tasks: 3 } }] });
    const r = planTraining(s, job({}), mdl);
    expect(r).toMatchObject({ status: "Unschedulable", reasons: ["quota"] });
    expect(r.message).toBe('quota: exceeded quota of tenant "default": tasks (used 0 + requested 5 > 3)');
    expect([...s.tasks()]).toEqual([]);
    expect(s.usageOf("default").tasks).toBe(0);
  });

  it("reserves the job's tasks unless asked not to", () => {
    const s = snapshot(fleet());
    scheduled(planTraining(s, job({ mode: "gossip" }), mdl, { reserve: false }));
    expect([...s.tasks()]).toEqual([]);
    scheduled(planTraining(s, job({ mode: "gossip", resources: { cpu: 100, memoryMiB: 0, gpu: 0 } }), mdl));
    expect([...s.tasks()].map((t) => t.name)).toEqual(["train/participant/d1", "train/participant/d2", "train/participant/d3", "train/participant/d4"]);
    expect(s.allocationOf(s.nodeIndex("d1"))).toMatchObject({ cpu: 100, memoryMiB: 1 });
  });
});
