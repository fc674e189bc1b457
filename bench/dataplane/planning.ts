// The production planner (libs/scheduling) on the bench's two-node fleet: which split it chooses
// for an objective, what it predicts for any split, from flops alone or with measured segment
// times fed in as ModelProfile figures are (Snapshot.setMeasurements).
import { modelSpec, type ClientPlan, type ModelSpec } from "@eiaas/api";
import { planInference, predictClientLatency, Snapshot, type SegmentFigure } from "@eiaas/scheduling";
import { service } from "@eiaas/scheduling/testing";
import { plannerNodes, type BenchNode } from "./fleet.js";
import type { BenchModel } from "./segments.js";

const NS = "bench";

export interface Profile {
  device: SegmentFigure[];
  edge: SegmentFigure[];
}

export interface Planner {
  /** The planner's choice: split j = layers 1..j on the device, j+1..n on the edge. */
  choose(objective: "latency" | "energy", profile?: Profile): { split: number; latencyMs: number; energyMj: number };
  /** Predicted end-to-end latency of split j. */
  predict(split: number, profile?: Profile): number;
}

export function modelSpecOf(model: BenchModel): ModelSpec {
  return modelSpec.parse({
    inputBytes: model.inputBytes,
    accuracy: 0.7,
    layers: model.layers.map(({ name, flops, flopsByOperator, elementOps, outputBytes, memoryMiB }) => ({
      name,
      flops,
      ...(flopsByOperator ? { flopsByOperator } : {}),
      ...(elementOps ? { elementOps } : {}),
      outputBytes,
      memoryMiB,
    })),
  });
}

export function planner(model: BenchModel, device: BenchNode, edge: BenchNode, mbps: number, rttMs: number): Planner {
  const spec = modelSpecOf(model);
  const n = spec.layers.length;
  const snapshotWith = (profile?: Profile) => {
    const s = new Snapshot({ nodes: plannerNodes(device, edge, mbps, rttMs) });
    if (profile) {
      s.setMeasurements(
        new Map([
          [
            `${NS}/${model.name}`,
            new Map([
              [device.name, { segments: profile.device }],
              [edge.name, { segments: profile.edge }],
            ]),
          ],
        ]),
      );
    }
    return s;
  };
  return {
    choose(objective, profile) {
      const plan = planInference(snapshotWith(profile), service(`${model.name}-${objective}`, { model: model.name, objective, architecture: "auto" }, NS), spec, { reserve: false });
      if (plan.status !== "Scheduled") throw new Error(`the planner did not place ${model.name}: ${plan.message}`);
      const c = plan.clients[0]!;
      if (c.architecture !== "device" && c.architecture !== "edge" && c.architecture !== "edge-device") throw new Error(`unexpected architecture ${c.architecture}`);
      return { split: c.split, latencyMs: c.predicted.latencyMs, energyMj: c.predicted.deviceEnergyMj };
    },
    predict(split, profile) {
      const plan: ClientPlan = {
        client: device.name,
        architecture: split === n ? "device" : split === 0 ? "edge" : "edge-device",
        split,
        ...(split > 0 && split < n ? { headNode: device.name } : {}),
        ...(split < n ? { tailNode: edge.name } : {}),
        variant: "base",
        exitAfterLayer: n,
        predicted: { latencyMs: 0, deviceEnergyMj: 0, accuracy: 0, uplinkBytes: 0 },
      };
      const s = snapshotWith(profile);
      return predictClientLatency(s, spec, plan, s.measurementsOf(NS, model.name))!;
    },
  };
}

/** A figure as a serving task reports it: the median run time of layers from..to over `count` requests. */
export function figure(n: number, fromLayer: number, toLayer: number, medianMs: number, count: number): SegmentFigure {
  return { variant: "base", exitAfterLayer: n, fromLayer, toLayer, medianMs, count };
}
