// FedAvg rounds in one process with libs/training's code — the same math the training runtime
// runs over HTTP (local SGD from the global model, compression with error feedback, FedAvg by
// sample counts, the estimates and τ choice of Wang et al.), without the network.
import {
  BatchSampler,
  chooseTau,
  decodeUpdate,
  deriveSeed,
  encodeUpdate,
  estimate,
  fedAvg,
  localSgd,
  localSmoothness,
  Rng,
  subtract,
  weightedMean,
  type Compression,
  type Dataset,
  type Model,
  type ParticipantEstimate,
} from "@eiaas/training";

export interface SimOptions {
  model: Model;
  shards: Dataset[];
  test: Dataset;
  learningRate: number;
  batchSize: number;
  compression?: Compression;
  /** Fixed τ, or adaptive under the cost model and budget. */
  tau: number | "adaptive";
  /** Stop after this many rounds (or when the budget runs out). */
  rounds?: number;
  /** The cost model: seconds per local step, per aggregation, and the budget. */
  costs?: { stepSeconds: number; aggregationSeconds: number; budgetSeconds: number };
  maxTau?: number;
  phi?: number;
}

export interface SimResult {
  rounds: number;
  trainLoss: number;
  accuracy: number;
  bytesUpPerRound: number;
  taus: number[];
}

const noPause = undefined;

export async function simulate(o: SimOptions): Promise<SimResult> {
  const { model, shards } = o;
  let w = model.init("bench/init");
  const samplers = shards.map((d, i) => new BatchSampler(d.rows, new Rng(deriveSeed("bench", i))));
  const residuals = shards.map(() => (o.compression && o.compression.type !== "none" ? new Float64Array(model.size) : undefined));
  const previous: Array<{ w: Float64Array; loss: number; gradient: Float64Array } | undefined> = shards.map(() => undefined);
  let tau = o.tau === "adaptive" ? 1 : o.tau;
  let spent = 0;
  let rounds = 0;
  let bytes = 0;
  const taus: number[] = [];
  for (;;) {
    if (o.rounds !== undefined && rounds >= o.rounds) break;
    if (o.costs && spent + tau * o.costs.stepSeconds + o.costs.aggregationSeconds > o.costs.budgetSeconds) break;
    const updates = [];
    const reports: ParticipantEstimate[] = [];
    for (let i = 0; i < shards.length; i++) {
      const d = shards[i]!;
      const grad0 = new Float64Array(model.size);
      const loss0 = model.lossAndGrad(w, d, undefined, grad0);
      const s = previous[i] ? localSmoothness(previous[i]!, { w, loss: loss0, gradient: grad0 }) : {};
      reports.push({ samples: d.rows, gradient: grad0, ...s });
      const { w: local } = await localSgd(model, w, d, samplers[i]!, { steps: tau, learningRate: o.learningRate, batchSize: o.batchSize }, noPause);
      if (o.tau === "adaptive") {
        const g = new Float64Array(model.size);
        previous[i] = { w: local, loss: model.lossAndGrad(local, d, undefined, g), gradient: g };
      }
      const encoded = encodeUpdate(subtract(local, w), o.compression ?? { type: "none" }, residuals[i]);
      bytes += encoded.length;
      updates.push({ delta: decodeUpdate(encoded, model.size), samples: d.rows });
    }
    w = fedAvg(w, updates);
    rounds++;
    taus.push(tau);
    if (o.costs) spent += tau * o.costs.stepSeconds + o.costs.aggregationSeconds;
    if (o.tau === "adaptive" && o.costs) {
      const d = chooseTau(
        tau,
        estimate(reports),
        { stepSeconds: o.costs.stepSeconds, aggregationSeconds: o.costs.aggregationSeconds, remainingSeconds: o.costs.budgetSeconds - spent },
        { learningRate: o.learningRate, phi: o.phi ?? 0.025, growth: 10, maxTau: o.maxTau ?? 100 },
      );
      if (d.stop) break;
      tau = d.tau;
    }
  }
  const trainLoss = weightedMean(shards.map((d) => ({ value: model.lossAndGrad(w, d), samples: d.rows })));
  return { rounds, trainLoss, accuracy: model.evaluate(w, o.test).accuracy, bytesUpPerRound: rounds ? bytes / rounds : 0, taus };
}

/** Plain mini-batch SGD on every shard together: the centralized baseline. */
export async function centralized(model: Model, all: Dataset, test: Dataset, o: { learningRate: number; batchSize: number; epochs: number }): Promise<{ accuracy: number; trainLoss: number }> {
  const steps = Math.ceil((o.epochs * all.rows) / o.batchSize);
  const { w } = await localSgd(model, model.init("bench/init"), all, new BatchSampler(all.rows, new Rng(7)), { steps, learningRate: o.learningRate, batchSize: o.batchSize }, noPause);
  return { accuracy: model.evaluate(w, test).accuracy, trainLoss: model.lossAndGrad(w, all) };
}
