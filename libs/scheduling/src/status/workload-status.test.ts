import { describe, expect, it } from "vitest";
import { planInference } from "../inference/planner.js";
import { planTraining } from "../training/planner.js";
import { cloud, device, model, service, snapshot, trainingJob, workedFleet, workedModel } from "../testing/builders.js";
import { plannedTaskSpec } from "./task-spec.js";
import { inferenceServiceStatus, trainingJobStatus } from "./workload-status.js";

describe("workload status", () => {
  it("a placed service is Scheduled with its plan", () => {
    const plan = planInference(snapshot(workedFleet(40)), service("svc"), workedModel());
    const st = inferenceServiceStatus(plan, { now: "2026-11-26T00:00:00Z", observedGeneration: 3 });
    expect(st).toMatchObject({
      phase: "Scheduled",
      observedGeneration: 3,
      conditions: [{ type: "Scheduled", status: "True", reason: "Scheduled", lastTransitionTime: "2026-11-26T00:00:00Z", observedGeneration: 3 }],
      plan: { clients: [{ client: "dev", split: 2 }] },
    });
  });

  it("an infeasible one stays Pending with reason Unschedulable and no plan", () => {
    const plan = planInference(snapshot(workedFleet(40)), service("svc", { slo: { latencyMs: 10 } }), workedModel());
    const st = inferenceServiceStatus(plan);
    expect(st.phase).toBe("Pending");
    expect(st.plan).toBeUndefined();
    expect(st.conditions).toEqual([{ type: "Scheduled", status: "False", reason: "Unschedulable", message: expect.stringContaining("client dev: slo") }]);
  });

  it("training jobs get the same shape", () => {
    const nodes = [cloud("c"), device("d", "c", { labels: { data: "yes" }, network: { uplinkMbps: 1, downlinkMbps: 1, rttMs: 0 } })];
    const ok = trainingJobStatus(planTraining(snapshot(nodes), trainingJob("t"), model()));
    expect(ok).toMatchObject({ phase: "Scheduled", plan: { participants: ["d"], aggregator: "c", localSteps: 1 } });
    const bad = trainingJobStatus(planTraining(snapshot(nodes), trainingJob("t", { participants: { min: 2 } }), model()));
    expect(bad).toMatchObject({ phase: "Pending", conditions: [{ status: "False", reason: "Unschedulable" }] });
  });
});

describe("plannedTaskSpec", () => {
  it("binds the task to its node with its layers, request, chain, load and priority", () => {
    const plan = planInference(snapshot(workedFleet(40)), service("svc", { resources: { cpu: 500, memoryMiB: 64, gpu: 0 } }), workedModel());
    if (plan.status !== "Scheduled") throw new Error(plan.message);
    expect(plannedTaskSpec(plan.tasks[1]!, { image: "serve:1" }, { A: "1" })).toEqual({
      nodeName: "edge",
      role: "tail",
      layers: { from: 3, to: 5 },
      template: { image: "serve:1" },
      env: { A: "1", EIAAS_VARIANT: "base", EIAAS_EXIT_AFTER_LAYER: "5", EIAAS_LAYERS: "3-5" },
      resources: { cpu: 500, memoryMiB: 64, gpu: 0 },
      load: 0,
      priority: 0,
    });
  });
});
