import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { TRAINING_HISTORY_ROUNDS, type TrainingProgress, type TrainingRound } from "@eiaas/api";
import { chooseTau, decodeUpdate, encodeDense32, estimate, fedAvg, generateTestSplit, shardSize, weightedMean, type Dataset, type ParticipantEstimate, type WeightedUpdate } from "@eiaas/training";
import { CheckpointWriter, type Checkpoint, type CheckpointStore } from "./checkpoint.js";
import { listenTraining, readBoundedBody } from "./http-body.js";
import type { TrainingJobView } from "./job.js";
import { decodeReport, HEADER_DONE, REPORT_HEADER_BYTES, HEADER_ROUND, HEADER_TAU, MODEL_PATH, UPDATE_PATH, WireError, type UpdateReport } from "./wire.js";

export interface AggregatorOptions {
  job: TrainingJobView;
  /** Participant node name → SHA-256 (hex) of its bearer token. */
  keys: Record<string, string>;
  checkpoints: CheckpointStore;
  /** The checkpoint's key (namespace/job uid). */
  checkpointKey: string;
  bindHost: string;
  /** Port to listen on; 0 picks one. */
  port: number;
  log(line: string): void;
  onProgress(progress: TrainingProgress): void;
  signal: AbortSignal;
  /** How long a model request waits for the next round. @defaultValue 20000 */
  longPollMs?: number;
}

interface Received {
  node: string;
  report: UpdateReport;
  update: WeightedUpdate;
  gradient?: Float64Array;
  bytes: number;
}

interface Waiter {
  node: string;
  res: ServerResponse;
  timer: NodeJS.Timeout;
}

const MAX_GROWTH = 10; // Wang et al.'s γ

/**
 * The aggregator of a federated job: publishes the global model, collects the participants'
 * updates, averages them (FedAvg by sample counts), evaluates the new model on the job's held-out
 * split, picks τ and whether to go on, checkpoints, reports the round's KPIs, and publishes the
 * next round. A round closes when every planned participant reported, or at its deadline with at
 * least the job's minimum (the rest are left out as missed); with fewer it waits on.
 */
export class Aggregator {
  private server?: Server;
  private readonly test: Dataset;
  private w: Float64Array;
  private round = 0; // rounds completed
  private tau: number;
  private spentSeconds = 0;
  private bytesUp = 0;
  private bytesDown = 0;
  private history: TrainingRound[] = [];
  private stoppedBecause?: string;
  private resumedFrom?: number;
  /** The round being run (round + 1) and what came for it. */
  private open = new Map<string, Received>();
  private openedAt = 0;
  private roundBytesDown = 0;
  private lastUpdateAt = 0;
  private deadline?: NodeJS.Timeout;
  private pastDeadline = false;
  private waiters = new Set<Waiter>();
  private fetchedDone = new Set<string>();
  /** Writes each round's checkpoint, then reports the round: the job's status never names a round a restarted aggregator could not resume from. */
  private readonly checkpoints: CheckpointWriter;
  /** Records of closed rounds waiting to be evaluated, reported and checkpointed, oldest first. */
  private records: Array<() => void> = [];
  private done!: () => void;
  private readonly finished = new Promise<void>((r) => (this.done = r));

  constructor(private readonly o: AggregatorOptions) {
    const { job } = o;
    this.test = generateTestSplit(job.data, job.config.participants);
    this.w = job.model.init(`${job.config.seed}/init`);
    this.tau = job.config.tau0;
    this.checkpoints = new CheckpointWriter(o.checkpoints, o.checkpointKey, (line) => o.log(line));
  }

  /** Listens, resumes from the last checkpoint if any, and runs until training ends (or the signal aborts). */
  async run(): Promise<{ endpointPort: number; finished: Promise<void> }> {
    const ckpt = await this.o.checkpoints.load(this.o.checkpointKey, this.o.job.model.size);
    if (ckpt) {
      Object.assign(this, { w: ckpt.w, round: ckpt.round, tau: ckpt.tau, spentSeconds: ckpt.spentSeconds, bytesUp: ckpt.bytesUp, bytesDown: ckpt.bytesDown, history: ckpt.history });
      this.stoppedBecause = ckpt.stoppedBecause;
      this.resumedFrom = ckpt.round;
      this.o.log(`resumed from the checkpoint of round ${ckpt.round}${ckpt.stoppedBecause ? ` (training had ended: ${ckpt.stoppedBecause})` : ""}`);
    }
    const listening = await listenTraining((req, res) => void this.handle(req, res), this.o.port, this.o.bindHost);
    this.server = listening.server;
    const port = listening.port;
    this.o.signal.addEventListener("abort", () => void this.shutdown(), { once: true });
    this.report();
    if (this.stoppedBecause) this.finishSoon();
    else this.openRound();
    return { endpointPort: port, finished: this.finished };
  }

  private openRound(): void {
    this.open = new Map();
    this.openedAt = performance.now();
    this.roundBytesDown = 0;
    this.pastDeadline = false;
    clearTimeout(this.deadline);
    this.deadline = setTimeout(() => this.onDeadline(), this.o.job.config.training.roundDeadlineSeconds * 1000);
    this.flushWaiters();
  }

  private onDeadline(): void {
    this.pastDeadline = true;
    const have = this.open.size;
    if (have >= this.o.job.config.minParticipants) this.closeRound();
    else this.o.log(`round ${this.round + 1}: deadline passed with ${have} update(s), waiting for at least ${this.o.job.config.minParticipants}`);
  }

  /**
   * Aggregates the open round and publishes the next one at once; what nobody waits for —
   * the held-out evaluation, the KPIs, the checkpoint — comes after the publication, so the
   * control plane's share of a round (`overheadMs`) is averaging and deciding only.
   */
  private closeRound(): void {
    clearTimeout(this.deadline);
    const { job } = this.o;
    const r = this.round + 1;
    const got = [...this.open.values()];
    const wallSeconds = (performance.now() - this.openedAt) / 1000;
    const roundBytesDown = this.roundBytesDown;
    const tau = this.tau;
    this.w = fedAvg(
      this.w,
      got.map((g) => g.update),
    );
    const loss = weightedMean(got.map((g) => ({ value: g.report.loss, samples: g.report.samples })));
    const missed = job.config.participants.filter((p) => !this.open.has(p));
    this.bytesDown += roundBytesDown;
    this.spentSeconds += wallSeconds;
    this.round = r;
    this.decideNext(got, wallSeconds, loss);
    if (!this.stoppedBecause) this.openRound();
    const overheadMs = this.lastUpdateAt > 0 ? performance.now() - this.lastUpdateAt : undefined;
    const model = this.w; // fedAvg made a new vector: the next round's does not change this one
    const up = got.reduce((s, g) => s + g.bytes, 0);
    this.bytesUp += up;
    // The state as this round left it: records run later, when further rounds may have closed.
    const state = { tau: this.tau, spentSeconds: this.spentSeconds, bytesUp: this.bytesUp, bytesDown: this.bytesDown, stoppedBecause: this.stoppedBecause };
    const record = () => {
      const heldOut = job.model.evaluate(model, this.test);
      const entry: TrainingRound = {
        round: r,
        tau,
        loss: round6(loss),
        testLoss: round6(heldOut.loss),
        accuracy: round6(heldOut.accuracy),
        bytesUp: up,
        bytesDown: roundBytesDown,
        wallSeconds: round6(wallSeconds),
        energyJoules: round6(got.reduce((s, g) => s + g.report.energyJoules, 0)),
        participants: got.length,
        ...(missed.length ? { missed } : {}),
        ...(overheadMs !== undefined ? { overheadMs: round6(overheadMs) } : {}),
      };
      this.history = [...this.history, entry].slice(-TRAINING_HISTORY_ROUNDS);
      this.o.log(
        `round ${r}: loss ${entry.loss} held-out accuracy ${entry.accuracy} τ ${tau} up ${up} B down ${roundBytesDown} B ${got.length} participant(s)${missed.length ? `, missed: ${missed.join(", ")}` : ""}`,
      );
      const { stoppedBecause, ...kept } = state;
      const checkpoint: Checkpoint = { round: r, w: model, history: this.history, ...kept, ...(stoppedBecause ? { stoppedBecause } : {}) };
      const progress = this.progressOf(checkpoint);
      this.checkpoints.write(checkpoint, () => this.o.onProgress(progress));
    };
    // After the new round's model went out. Rounds can close faster than immediates run (a whole
    // round can pass in one poll phase), so records queue up and always run in round order.
    this.records.push(record);
    if (this.stoppedBecause) {
      this.flushRecords();
      this.finishSoon();
    } else if (this.records.length === 1) setImmediate(() => this.flushRecords());
  }

  private flushRecords(): void {
    for (const record of this.records.splice(0)) record();
  }

  /** The progress report of the state a checkpoint holds (the resumed-from mark included). */
  private progressOf(c: Checkpoint): TrainingProgress {
    const last = c.history[c.history.length - 1];
    return {
      round: c.round,
      tau: c.tau,
      ...(last?.loss !== undefined ? { loss: last.loss } : {}),
      ...(last?.accuracy !== undefined ? { accuracy: last.accuracy } : {}),
      bytesUp: c.bytesUp,
      bytesDown: c.bytesDown,
      budgetUsedSeconds: round6(c.spentSeconds),
      ...(c.stoppedBecause ? { stoppedBecause: c.stoppedBecause } : {}),
      ...(this.resumedFrom !== undefined ? { resumedFrom: this.resumedFrom } : {}),
      history: c.history,
    };
  }

  /** Stopping rule (rounds, target loss, budget) and, for adaptive τ, the next τ. */
  private decideNext(got: Received[], wallSeconds: number, loss: number): void {
    const { config, adaptive } = this.o.job;
    if (this.round >= config.rounds) return void (this.stoppedBecause = "RoundsDone");
    if (config.training.targetLoss !== undefined && loss <= config.training.targetLoss) return void (this.stoppedBecause = "TargetLoss");
    const stepSeconds = Math.max(...got.map((g) => (g.report.steps > 0 ? g.report.computeSeconds / g.report.steps : 0)), 1e-6);
    const costs = {
      stepSeconds,
      aggregationSeconds: Math.max(wallSeconds - this.tau * stepSeconds, 1e-3),
      remainingSeconds: config.budgetSeconds !== undefined ? config.budgetSeconds - this.spentSeconds : Infinity,
    };
    if (!adaptive) {
      if (costs.remainingSeconds < this.tau * costs.stepSeconds + costs.aggregationSeconds) this.stoppedBecause = "BudgetExhausted";
      return;
    }
    const reports: ParticipantEstimate[] = got
      .filter((g) => g.gradient)
      .map((g) => ({
        samples: g.report.samples,
        gradient: g.gradient!,
        ...(g.report.rho !== undefined ? { rho: g.report.rho } : {}),
        ...(g.report.beta !== undefined ? { beta: g.report.beta } : {}),
      }));
    const est = reports.length ? estimate(reports) : undefined;
    const d = chooseTau(this.tau, est, costs, { learningRate: config.training.learningRate, phi: config.phi ?? 0.025, growth: MAX_GROWTH, maxTau: config.maxLocalSteps });
    if (d.stop) this.stoppedBecause = "BudgetExhausted";
    else this.tau = d.tau;
  }

  /** Reports the state it holds now (at start: fresh, or as resumed from a checkpoint). */
  private report(): void {
    this.o.onProgress(
      this.progressOf({
        round: this.round,
        tau: this.tau,
        w: this.w,
        spentSeconds: this.spentSeconds,
        bytesUp: this.bytesUp,
        bytesDown: this.bytesDown,
        history: this.history,
        ...(this.stoppedBecause ? { stoppedBecause: this.stoppedBecause } : {}),
      }),
    );
  }

  /** Training is over: participants get the final model with the done mark; then the task ends. */
  private finishSoon(): void {
    clearTimeout(this.deadline);
    this.o.log(`training ended: ${this.stoppedBecause} after round ${this.round}`);
    this.flushWaiters();
    const all = () => this.o.job.config.participants.every((p) => this.fetchedDone.has(p));
    const grace = Math.min(this.o.job.config.training.roundDeadlineSeconds, 30) * 1000;
    const started = Date.now();
    const check = setInterval(() => {
      if (all() || Date.now() - started > grace) {
        clearInterval(check);
        void this.shutdown();
      }
    }, 100);
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.deadline);
    this.flushRecords(); // rounds closed but not yet checkpointed are, before the task ends
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.res.writeHead(503).end();
    }
    this.waiters.clear();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
    await this.checkpoints.drained(); // the last round's checkpoint lands (and is reported) before the task ends
    this.done();
  }

  /** Which participant a bearer token belongs to (compared as digests, in constant time). */
  private who(req: IncomingMessage): string | undefined {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    if (!m) return undefined;
    const digest = createHash("sha256").update(m[1]!).digest();
    for (const [node, hex] of Object.entries(this.o.keys)) {
      const want = Buffer.from(hex, "hex");
      if (want.length === digest.length && timingSafeEqual(want, digest)) return node;
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? "/", "http://aggregator");
      const node = this.who(req);
      if (!node) return void res.writeHead(401, { "content-type": "text/plain" }).end("unknown participant token\n");
      if (req.method === "GET" && url.pathname === MODEL_PATH) {
        return this.serveModel(node, res);
      }
      if (req.method === "POST" && url.pathname === UPDATE_PATH) return await this.receive(node, req, res, url.searchParams.get("next") === "1");
      res.writeHead(404).end();
    } catch (err) {
      // A request never ends the task: whatever it did wrong is its answer.
      if (!res.headersSent) res.writeHead(err instanceof WireError ? 400 : 500, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`);
    }
  }

  /**
   * The model of the round being run, now — or, for a participant that already sent its update
   * for it, once the next round is published (long poll). After an aggregator restart the open
   * round may be one a participant sent to the previous process: it gets it again, and retrains.
   */
  private serveModel(node: string, res: ServerResponse): void {
    if (this.stoppedBecause || !this.open.has(node)) return this.sendModel(node, res);
    const waiter: Waiter = {
      node,
      res,
      timer: setTimeout(() => {
        this.waiters.delete(waiter);
        res.writeHead(204).end();
      }, this.o.longPollMs ?? 20_000),
    };
    this.waiters.add(waiter);
    res.on("close", () => {
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
    });
  }

  private flushWaiters(): void {
    for (const w of [...this.waiters]) {
      if (this.stoppedBecause || !this.open.has(w.node)) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        this.sendModel(w.node, w.res);
      }
    }
  }

  private sendModel(node: string | undefined, res: ServerResponse): void {
    const body = encodeDense32(this.w);
    if (this.stoppedBecause) {
      if (node) this.fetchedDone.add(node);
    } else this.roundBytesDown += body.length;
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": body.length,
      [HEADER_ROUND]: String(this.round + 1),
      [HEADER_TAU]: String(this.tau),
      ...(this.stoppedBecause ? { [HEADER_DONE]: this.stoppedBecause } : {}),
    });
    res.end(body);
  }

  /**
   * Takes a participant's update for the open round. With `next` (`?next=1`) the answer is the
   * next round's model, sent once it is published (the long poll of `GET /v1/model`): one request
   * a round and participant.
   */
  private async receive(node: string, req: IncomingMessage, res: ServerResponse, next: boolean): Promise<void> {
    const size = this.o.job.model.size;
    // The header, the largest update (top-k of every value with 32-bit indexes) and a dense gradient.
    const limit = REPORT_HEADER_BYTES + 2 * (9 + 8 * size);
    const body = await readBoundedBody(req, limit);
    if (!body) return void res.writeHead(413, { connection: "close" }).end("update too large\n");
    const gradientBytes = this.o.job.adaptive ? 5 + 4 * size : 0;
    const { report, update, gradient } = decodeReport(body, gradientBytes);
    const r = this.round + 1;
    if (this.stoppedBecause || report.round !== r) return void res.writeHead(409).end(`round ${r} is open, not ${report.round}\n`);
    if (this.open.has(node)) return void res.writeHead(409).end(`${node} already sent round ${r}\n`);
    let delta: Float64Array;
    let grad: Float64Array | undefined;
    try {
      delta = decodeUpdate(update, size);
      grad = gradient ? decodeUpdate(gradient, size) : undefined;
    } catch (err) {
      throw new WireError((err as Error).message);
    }
    // Weighted by the shard's true size (the generator says it), not by what the participant claims.
    const samples = shardSize(this.o.job.data, node);
    report.samples = samples;
    this.open.set(node, { node, report, update: { delta, samples }, ...(grad ? { gradient: grad } : {}), bytes: body.length });
    this.lastUpdateAt = performance.now();
    if (next) this.serveModel(node, res);
    else res.writeHead(200).end();
    const all = this.o.job.config.participants.every((p) => this.open.has(p));
    if (all || (this.pastDeadline && this.open.size >= this.o.job.config.minParticipants)) this.closeRound();
  }
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
