import { describe, expect, it } from "vitest";
import { issuesToCauses } from "../validation.js";
import { trainingJobSpec } from "./trainingjob.js";

const base = {
  model: "m",
  mode: "federated",
  data: { selector: { matchLabels: { data: "local" } } },
  rounds: 10,
  training: { dataset: { name: "synthetic" } },
};

function causes(spec: unknown): Array<{ field: string; message: string }> {
  const r = trainingJobSpec.safeParse(spec);
  return r.success ? [] : issuesToCauses(r.error, "spec").map(({ field, message }) => ({ field: field!, message }));
}

describe("TrainingJob spec.training", () => {
  it("takes a job that names a known data set and model, with defaults", () => {
    const r = trainingJobSpec.parse(base);
    expect(r.training).toEqual({
      dataset: { name: "synthetic", alpha: 0.5, beta: 0.5, maxSamplesPerParticipant: 2000 },
      model: "logreg",
      hidden: 32,
      learningRate: 0.01,
      batchSize: 10,
      roundDeadlineSeconds: 60,
    });
  });

  it("refuses an unknown data set, τ ≤ 0, and a budget too small for one round, naming the field", () => {
    expect(causes({ ...base, training: { dataset: { name: "mnist" } } })[0]!.field).toBe("spec.training.dataset.name");
    expect(causes({ ...base, aggregation: { localSteps: 0 } })[0]!.field).toBe("spec.aggregation.localSteps");
    expect(causes({ ...base, aggregation: { localSteps: -3 } })[0]!.field).toBe("spec.aggregation.localSteps");
    const tight = causes({ ...base, aggregation: { localSteps: 10, budget: { seconds: 5 }, estimates: { localStepSeconds: 0.4, aggregationSeconds: 2 } } });
    expect(tight).toEqual([{ field: "spec.aggregation.budget.seconds", message: expect.stringMatching(/does not fit one round .*6 s/) }]);
    expect(causes({ ...base, aggregation: { budget: { seconds: 0 } } })[0]!.field).toBe("spec.aggregation.budget.seconds");
    expect(causes({ ...base, aggregation: { localSteps: "auto" } })[0]!.field).toBe("spec.aggregation.budget.seconds");
  });

  it("refuses compression it cannot apply and modes it does not train", () => {
    expect(causes({ ...base, compression: { type: "topk" } })[0]!.field).toBe("spec.compression.ratio");
    expect(causes({ ...base, compression: { type: "quantize", bits: 4 } })[0]!.field).toBe("spec.compression.bits");
    expect(causes({ ...base, mode: "centralized" })[0]!.field).toBe("spec.training");
    expect(causes({ ...base, mode: "gossip" })).toEqual([]);
    expect(causes({ ...base, mode: "gossip", compression: { type: "quantize" } })[0]!.field).toBe("spec.compression.type");
    expect(causes({ ...base, mode: "gossip", aggregation: { localSteps: "auto", budget: { seconds: 60 } } })[0]!.field).toBe("spec.aggregation.localSteps");
    expect(causes({ ...base, compression: { type: "quantize" }, aggregation: { localSteps: "auto", budget: { seconds: 60 } } })).toEqual([]);
  });
});
