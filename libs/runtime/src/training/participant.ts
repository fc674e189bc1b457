import { setImmediate as breathe } from "node:timers/promises";
import { BatchSampler, decodeUpdate, deriveSeed, encodeDense32, encodeUpdate, generateShard, localSgd, localSmoothness, Rng, subtract } from "@eiaas/training";
import type { Agent } from "node:http";
import { leanAgent, leanRequest, type LeanResponse } from "./http-client.js";
import type { NodePower, TrainingJobView } from "./job.js";
import { encodeReport, HEADER_DONE, HEADER_ROUND, HEADER_TAU, MODEL_PATH, UPDATE_PATH, type UpdateReport } from "./wire.js";

export interface ParticipantOptions {
  job: TrainingJobView;
  /** This participant's node name: its shard follows from it. */
  node: string;
  token: string;
  /** Where the aggregator is now (`host:port`), undefined while it has none; asked again after a failure. */
  resolveAggregator(): Promise<string | undefined>;
  power: NodePower;
  log(line: string): void;
  signal: AbortSignal;
  /** Waits between tries when the aggregator cannot be reached. @defaultValue 500 */
  retryMs?: number;
}

interface Fetched {
  round: number;
  tau: number;
  w: Float64Array;
  done?: string;
}

/**
 * A participant: holds its shard (generated here from the job's seed and its node name — no
 * sample ever leaves), and each round fetches the global model, trains τ local steps from it and
 * posts its update (compressed, with error feedback) with the scalars the aggregator needs.
 * Resolves when the aggregator says training is over.
 */
export async function runParticipant(options: ParticipantOptions): Promise<{ rounds: number; stoppedBecause: string }> {
  const o = { ...withCachedAggregator(options), agent: leanAgent() };
  try {
    return await participate(o);
  } finally {
    o.agent.destroy();
  }
}

async function participate(o: Resolving): Promise<{ rounds: number; stoppedBecause: string }> {
  const { job } = o;
  const { model, config } = job;
  const shard = generateShard(job.data, o.node);
  const sampler = new BatchSampler(shard.rows, new Rng(deriveSeed(config.seed, o.node, "batches")));
  const residual = config.compression.type === "none" ? undefined : new Float64Array(model.size);
  let previous: { w: Float64Array; loss: number; gradient: Float64Array } | undefined;
  let after = 0;
  let rounds = 0;
  let next: Fetched | undefined;
  o.log(`participant ${o.node}: ${shard.rows} local samples, model ${config.training.model} (${model.size} parameters)`);
  for (;;) {
    const got = next ?? (await fetchModel(o, after));
    next = undefined;
    if (got.done) {
      o.log(`training ended (${got.done}) at round ${got.round - 1}; ${rounds} round(s) trained here`);
      return { rounds, stoppedBecause: got.done };
    }
    const grad0 = new Float64Array(model.size);
    const loss0 = model.lossAndGrad(got.w, shard, undefined, grad0);
    const smooth = previous ? localSmoothness(previous, { w: got.w, loss: loss0, gradient: grad0 }) : {};
    const started = performance.now();
    const { w } = await localSgd(model, got.w, shard, sampler, { steps: got.tau, learningRate: config.training.learningRate, batchSize: config.training.batchSize }, () => breathe(), 20);
    const computeSeconds = (performance.now() - started) / 1000;
    if (job.adaptive) {
      const g = new Float64Array(model.size);
      previous = { w, loss: model.lossAndGrad(w, shard, undefined, g), gradient: g };
    }
    const update = encodeUpdate(subtract(w, got.w), config.compression, residual);
    const gradient = job.adaptive ? encodeDense32(grad0) : undefined;
    const scalars: Omit<UpdateReport, "energyJoules"> = {
      round: got.round,
      samples: shard.rows,
      loss: loss0,
      steps: got.tau,
      computeSeconds,
      ...(smooth.rho !== undefined ? { rho: smooth.rho } : {}),
      ...(smooth.beta !== undefined ? { beta: smooth.beta } : {}),
    };
    // Energy of the round from the node's power model: compute time at compute power, the
    // upload (this body at the node's uplink) at transmit power.
    const sizeGuess = encodeReport({ ...scalars, energyJoules: 0 }, update, gradient).length;
    const uplinkBps = o.power.uplinkMbps > 0 ? o.power.uplinkMbps * 1e6 : Infinity;
    const energyJoules = o.power.computeW * computeSeconds + (o.power.transmitW * sizeGuess * 8) / uplinkBps;
    const body = encodeReport({ ...scalars, energyJoules }, update, gradient);
    const { status, model: following } = await postUpdate(o, body);
    next = following;
    after = got.round;
    if (status === 200) rounds++;
    else o.log(`round ${got.round}: the aggregator did not take the update (${status}): the round went on without it`);
  }
}

type Resolving = ParticipantOptions & { forgetAggregator(): void; agent: Agent };

/** The model an answer carries (`GET /v1/model`, or the answer to an update), if it is one. */
function modelOf(o: Resolving, res: LeanResponse): Fetched | undefined {
  if (res.status !== 200) return undefined;
  const round = Number(res.headers[HEADER_ROUND]);
  const tau = Number(res.headers[HEADER_TAU]);
  const done = res.headers[HEADER_DONE];
  if (!Number.isInteger(round) || round < 1 || !Number.isInteger(tau) || tau < 1) return undefined;
  return { round, tau, w: decodeUpdate(res.body, o.job.model.size), ...(typeof done === "string" ? { done } : {}) };
}

async function fetchModel(o: Resolving, after: number): Promise<Fetched> {
  for (;;) {
    o.signal.throwIfAborted();
    const endpoint = await o.resolveAggregator().catch(() => undefined);
    if (endpoint) {
      try {
        const res = await leanRequest(o.agent, {
          endpoint,
          method: "GET",
          path: `${MODEL_PATH}?after=${after}`,
          token: o.token,
          signal: AbortSignal.any([o.signal, AbortSignal.timeout(60_000)]),
          maxBytes: modelBytes(o),
        });
        const got = modelOf(o, res);
        if (got) return got;
        if (res.status === 204) continue; // the long poll timed out: ask again
        o.forgetAggregator();
      } catch (err) {
        if (o.signal.aborted) throw err;
        o.forgetAggregator();
      }
    }
    await sleep(o.retryMs ?? 500, o.signal);
  }
}

/**
 * Posts the update and, in the same exchange, waits for the next round's model (`?next=1`: the
 * aggregator answers once it published it) — one request a round instead of two, so the HTTP
 * framing of a round is one request's. Without a model in the answer (the long poll ran out, a
 * 409) the loop asks for it with `GET /v1/model`.
 */
async function postUpdate(o: Resolving, body: Buffer): Promise<{ status: number; model?: Fetched }> {
  const deadline = Date.now() + o.job.config.training.roundDeadlineSeconds * 1000;
  for (;;) {
    o.signal.throwIfAborted();
    const endpoint = await o.resolveAggregator().catch(() => undefined);
    if (endpoint) {
      try {
        const res = await leanRequest(o.agent, {
          endpoint,
          method: "POST",
          path: `${UPDATE_PATH}?next=1`,
          token: o.token,
          body,
          signal: AbortSignal.any([o.signal, AbortSignal.timeout(60_000)]),
          maxBytes: modelBytes(o),
        });
        if (res.status < 500) {
          const model = modelOf(o, res);
          return { status: res.status === 204 ? 200 : res.status, ...(model ? { model } : {}) };
        }
        o.forgetAggregator();
      } catch (err) {
        if (o.signal.aborted) throw err;
        o.forgetAggregator();
      }
    }
    // An aggregator down past the round's deadline will have moved on (or restarted from its
    // checkpoint): drop the update and fetch the round it runs now.
    if (Date.now() > deadline) return { status: 0 };
    await sleep(o.retryMs ?? 500, o.signal);
  }
}

/** The largest answer a participant reads: a dense model frame, or a short error text. */
function modelBytes(o: Resolving): number {
  return 5 + 4 * o.job.model.size + 4096;
}

/**
 * The aggregator's endpoint asked of the API once, and again only after it failed us (a restarted
 * aggregator listens elsewhere): two lookups a round per participant would be API load that grows
 * with participants × rounds per second.
 */
function withCachedAggregator(o: ParticipantOptions): Omit<Resolving, "agent"> {
  let cached: string | undefined;
  return {
    ...o,
    resolveAggregator: async () => (cached ??= await o.resolveAggregator()),
    forgetAggregator: () => (cached = undefined),
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
}
