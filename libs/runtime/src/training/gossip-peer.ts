import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { setImmediate as breathe } from "node:timers/promises";
import { TRAINING_HISTORY_ROUNDS, type GossipNeighbours, type TrainingProgress, type TrainingRound } from "@eiaas/api";
import { BatchSampler, decodeUpdate, degreesOf, deriveSeed, encodeDense32, generateShard, generateTestSplit, gossipMix, localSgd, Rng, type Dataset, type NeighbourModel } from "@eiaas/training";
import { listenTraining, readBoundedBody } from "./http-body.js";
import { leanAgent, leanRequest } from "./http-client.js";
import type { NodePower, TrainingJobView } from "./job.js";
import { decodeGossip, encodeGossip, GOSSIP_PATH, gossipBytes, WireError } from "./wire.js";

export interface GossipPeerOptions {
  job: TrainingJobView;
  /** This peer's node name: its shard follows from it. */
  node: string;
  /** Its bearer token, sent with its pushes (its neighbours hold its SHA-256). */
  token: string;
  neighbours: GossipNeighbours;
  /** A neighbour Task's endpoint (`host:port`), undefined while it has none. */
  lookupEndpoint(task: string): Promise<string | undefined>;
  power: NodePower;
  bindHost: string;
  /** Port to listen on; 0 picks one. */
  port: number;
  log(line: string): void;
  onProgress(progress: TrainingProgress): void;
  signal: AbortSignal;
}

interface Inbox {
  round: number;
  w: Float64Array;
}

/**
 * How far ahead of a live neighbour a peer may run (bounded staleness): at round r it mixes with
 * each neighbour's latest model if that finished round r − 1 or later, and waits (up to the round
 * deadline) for one that did not. No global round, no barrier beyond the neighbourhood.
 */
const STALENESS = 1;
/**
 * How far ahead a neighbour must be before a peer takes up its model and round instead of training
 * on: a live neighbour that waits for it can be at most 2·STALENESS rounds past it (it pushes
 * round r after waiting for r − 1 − STALENESS), so only a peer that restarted, or that its
 * neighbours stopped waiting for, is ever this far behind.
 */
const CATCH_UP_GAP = 2 * STALENESS + 1;
/** A push that takes longer than this is given up (the neighbour is then left out, not waited on). */
const PUSH_TIMEOUT_MS = 10_000;
/** How long a round's end waits for its own pushes' answers (on a LAN, a few ms), so its bytes count in it. */
const PUSH_SETTLE_MS = 200;

/**
 * A gossip peer (issue 21 part 5): holds its shard (generated here; no sample leaves), and each
 * round trains τ local steps, pushes its model to the neighbours the plan gave it, waits only for
 * those neighbours to be within {@link STALENESS} round of it, and mixes its model with theirs
 * (Metropolis–Hastings weights: libs/training's gossipMix). There is no aggregator: each peer
 * evaluates its own model on the job's held-out split and reports its KPIs in its Task's status;
 * the scheduler folds the peers' reports into the job's. A neighbour that misses the deadline is
 * left out and not waited for again until it pushes again; a peer that finds its neighbours
 * rounds ahead (it restarted) takes up their average and their round.
 */
export class GossipPeer {
  private server?: Server;
  private readonly test: Dataset;
  private readonly degrees: Map<string, number>;
  private readonly inbox = new Map<string, Inbox>();
  /** Neighbours that missed a deadline: not waited for until they push again. */
  private readonly absent = new Set<string>();
  private readonly endpoints = new Map<string, string>();
  private bytesInSinceRound = 0;
  private bytesOutSinceRound = 0;
  /** Neighbours with a push in flight. */
  private readonly pushing = new Map<string, Promise<void>>();
  /** The newest model each neighbour has yet to be sent. */
  private readonly waitingPush = new Map<string, Buffer>();
  private wake?: () => void;
  private readonly agent = leanAgent();

  constructor(private readonly o: GossipPeerOptions) {
    this.test = generateTestSplit(o.job.data, o.job.config.participants);
    this.degrees = degreesOf(o.job.config.peers ?? {});
  }

  /** Listens (its endpoint is what neighbours push to); `finished` resolves when training ends here. */
  async listen(): Promise<{ port: number; finished: Promise<string> }> {
    const listening = await listenTraining((req, res) => void this.handle(req, res), this.o.port, this.o.bindHost);
    this.server = listening.server;
    const port = listening.port;
    const finished = this.train().finally(() => this.close());
    return { port, finished };
  }

  private async close(): Promise<void> {
    this.agent.destroy();
    const closed = new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    // Neighbours' keep-alive connections (or a push mid-way) would hold the close: training here is over.
    this.server?.closeAllConnections();
    await closed;
  }

  private async train(): Promise<string> {
    const { job, node } = this.o;
    const { model, config } = job;
    const t = config.training;
    const shard = generateShard(job.data, node);
    const sampler = new BatchSampler(shard.rows, new Rng(deriveSeed(config.seed, node, "batches")));
    const names = Object.keys(this.o.neighbours);
    const tau = config.localSteps === "auto" ? config.tau0 : config.localSteps;
    const deadlineMs = t.roundDeadlineSeconds * 1000;
    this.o.log(`gossip peer ${node}: ${shard.rows} local samples, neighbours ${names.join(", ") || "none"}, model ${t.model} (${model.size} parameters)`);
    await this.awaitNeighboursUp(names, deadlineMs);
    let w = model.init(`${config.seed}/init`);
    let history: TrainingRound[] = [];
    let bytesUp = 0;
    let bytesDown = 0;
    let spent = 0;
    let done = 0;
    let stoppedBecause: string | undefined;
    while (!stoppedBecause) {
      const caught = this.catchUp(done);
      if (caught) {
        this.o.log(`neighbours are at round ${caught.round}: taking up their average from there`);
        ({ w, round: done } = caught);
      }
      const r = done + 1;
      const openedAt = performance.now();
      const loss = model.lossAndGrad(w, shard);
      const started = performance.now();
      const local = (await localSgd(model, w, shard, sampler, { steps: tau, learningRate: t.learningRate, batchSize: t.batchSize }, () => breathe(), 20)).w;
      const computeSeconds = (performance.now() - started) / 1000;
      this.pushAll(names, r, local);
      await this.awaitNeighbours(names, r, deadlineMs);
      await this.settlePushes(PUSH_SETTLE_MS);
      const { mixed, fresh, missed } = this.mix(names, r, local);
      w = mixed;
      const wallSeconds = (performance.now() - openedAt) / 1000;
      const down = this.bytesInSinceRound;
      const up = this.bytesOutSinceRound;
      this.bytesInSinceRound = 0;
      this.bytesOutSinceRound = 0;
      bytesUp += up;
      bytesDown += down;
      spent += wallSeconds;
      done = r;
      stoppedBecause = this.stopRule(r, loss, spent, tau, computeSeconds, wallSeconds);
      const heldOut = model.evaluate(w, this.test);
      const uplinkBps = this.o.power.uplinkMbps > 0 ? this.o.power.uplinkMbps * 1e6 : Infinity;
      const entry: TrainingRound = {
        round: r,
        tau,
        loss: round6(loss),
        testLoss: round6(heldOut.loss),
        accuracy: round6(heldOut.accuracy),
        bytesUp: up,
        bytesDown: down,
        wallSeconds: round6(wallSeconds),
        energyJoules: round6(this.o.power.computeW * computeSeconds + (this.o.power.transmitW * up * 8) / uplinkBps),
        participants: fresh.length + 1,
        ...(missed.length ? { missed } : {}),
      };
      history = [...history, entry].slice(-TRAINING_HISTORY_ROUNDS);
      this.o.log(
        `round ${r}: loss ${entry.loss} held-out accuracy ${entry.accuracy} τ ${tau} up ${up} B down ${down} B, mixed ${fresh.length} neighbour(s)${missed.length ? `, missed: ${missed.join(", ")}` : ""}`,
      );
      this.o.onProgress({
        round: r,
        tau,
        loss: entry.loss!,
        accuracy: entry.accuracy!,
        bytesUp,
        bytesDown,
        budgetUsedSeconds: round6(spent),
        ...(stoppedBecause ? { stoppedBecause } : {}),
        history,
      });
    }
    this.o.log(`training ended: ${stoppedBecause} after round ${done}`);
    return stoppedBecause;
  }

  /** Round r's gossip step: the local model mixed with the live neighbours' models of round r − STALENESS or later. */
  private mix(names: readonly string[], r: number, local: Float64Array): { mixed: Float64Array; fresh: NeighbourModel[]; missed: string[] } {
    const fresh: NeighbourModel[] = [];
    const missed: string[] = [];
    for (const n of names) {
      const got = this.inbox.get(n);
      if (got && got.round >= r - STALENESS && !this.absent.has(n)) fresh.push({ node: n, w: got.w });
      else missed.push(n);
    }
    return { mixed: gossipMix({ node: this.o.node, w: local }, fresh, this.degrees), fresh, missed };
  }

  /** The federated job's stopping rules, each peer on its own: rounds, its local loss, its budget. */
  private stopRule(r: number, loss: number, spent: number, tau: number, computeSeconds: number, wallSeconds: number): string | undefined {
    const { config } = this.o.job;
    if (r >= config.rounds) return "RoundsDone";
    if (config.training.targetLoss !== undefined && loss <= config.training.targetLoss) return "TargetLoss";
    if (config.budgetSeconds !== undefined) {
      const step = computeSeconds / tau;
      const next = tau * step + Math.max(wallSeconds - computeSeconds, 1e-3);
      if (config.budgetSeconds - spent < next) return "BudgetExhausted";
    }
    return undefined;
  }

  /**
   * A peer whose live neighbours are more than a round ahead (it restarted, or started late) takes
   * up the average of the furthest ones' models and their round, instead of pulling them back.
   */
  private catchUp(done: number): { w: Float64Array; round: number } | undefined {
    const ahead = [...this.inbox.entries()].filter(([n, m]) => !this.absent.has(n) && m.round >= done + CATCH_UP_GAP);
    if (ahead.length === 0) return undefined;
    const top = Math.max(...ahead.map(([, m]) => m.round));
    const use = ahead.filter(([, m]) => m.round >= top - STALENESS).map(([, m]) => m.w);
    const w = new Float64Array(use[0]!.length);
    for (const v of use) for (let k = 0; k < w.length; k++) w[k] = w[k]! + v[k]! / use.length;
    return { w, round: top };
  }

  /** Before round 1: every neighbour's endpoint, or the deadline (late ones join as they push). */
  private async awaitNeighboursUp(names: readonly string[], deadlineMs: number): Promise<void> {
    const until = performance.now() + deadlineMs;
    for (;;) {
      const missing = [];
      for (const n of names) if (!(await this.endpointOf(n))) missing.push(n);
      if (missing.length === 0) return;
      if (performance.now() > until) {
        this.o.log(`starting without ${missing.join(", ")}: no endpoint within the round deadline`);
        return;
      }
      await sleep(250, this.o.signal);
    }
  }

  /** Until every live neighbour's latest model finished round r − STALENESS; at the deadline, the late ones become absent. */
  private async awaitNeighbours(names: readonly string[], r: number, deadlineMs: number): Promise<void> {
    const late = () => names.filter((n) => !this.absent.has(n) && (this.inbox.get(n)?.round ?? 0) < r - STALENESS);
    const until = performance.now() + deadlineMs;
    for (let waiting = late(); waiting.length > 0; waiting = late()) {
      const left = until - performance.now();
      if (left <= 0) {
        for (const n of waiting) this.absent.add(n);
        this.o.log(`round ${r}: ${waiting.join(", ")} missed the deadline: going on without them`);
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, Math.min(left, 500)); // also re-checks the abort now and then
      });
      this.wake = undefined;
      this.o.signal.throwIfAborted();
    }
  }

  /**
   * Pushes the model to every neighbour without waiting for the answers: a neighbour that hangs
   * must not hold up the round (it is left out by the deadline like any late one). One push per
   * neighbour is in flight at a time; a newer model for a neighbour still busy with the previous
   * push waits and replaces any older one waiting (only the newest matters to it). Bytes count
   * once a push went through, in the round it did.
   */
  private pushAll(names: readonly string[], r: number, w: Float64Array): void {
    const body = encodeGossip(r, encodeDense32(w));
    for (const n of names) {
      this.waitingPush.set(n, body);
      if (!this.pushing.has(n)) this.pushing.set(n, this.drain(n));
    }
  }

  private async drain(node: string): Promise<void> {
    try {
      for (let body = this.waitingPush.get(node); body; body = this.waitingPush.get(node)) {
        this.waitingPush.delete(node);
        if (await this.push(node, body).catch(() => false)) this.bytesOutSinceRound += body.length;
      }
    } finally {
      this.pushing.delete(node);
    }
  }

  /** Until the pushes in flight are answered (or `ms` passed): a round's bytes include its own pushes when they are quick. */
  private async settlePushes(ms: number): Promise<void> {
    if (this.pushing.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.pushing.values()), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  private async push(node: string, body: Buffer): Promise<boolean> {
    const endpoint = await this.endpointOf(node);
    if (!endpoint) return false;
    try {
      const res = await leanRequest(this.agent, {
        endpoint,
        method: "POST",
        path: GOSSIP_PATH,
        token: this.o.token,
        body,
        signal: AbortSignal.any([this.o.signal, AbortSignal.timeout(PUSH_TIMEOUT_MS)]),
        maxBytes: 4096,
      });
      if (res.status >= 200 && res.status < 300) return true;
    } catch (err) {
      if (this.o.signal.aborted) throw err;
    }
    this.endpoints.delete(node); // a restarted neighbour listens elsewhere: ask the API again next time
    return false;
  }

  /** A neighbour's endpoint, asked of the API until known and again only after a push to it failed. */
  private async endpointOf(node: string): Promise<string | undefined> {
    const known = this.endpoints.get(node);
    if (known) return known;
    const task = this.o.neighbours[node]?.task;
    const endpoint = task ? await this.o.lookupEndpoint(task).catch(() => undefined) : undefined;
    if (endpoint) this.endpoints.set(node, endpoint);
    return endpoint;
  }

  /** Which neighbour a bearer token belongs to (compared as digests, in constant time). */
  private who(req: IncomingMessage): string | undefined {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    if (!m) return undefined;
    const digest = createHash("sha256").update(m[1]!).digest();
    for (const [node, { key }] of Object.entries(this.o.neighbours)) {
      const want = Buffer.from(key, "hex");
      if (want.length === digest.length && timingSafeEqual(want, digest)) return node;
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const node = this.who(req);
      if (!node) return void res.writeHead(401, { "content-type": "text/plain" }).end("unknown neighbour token\n");
      if (req.method !== "POST" || new URL(req.url ?? "/", "http://peer").pathname !== GOSSIP_PATH) return void res.writeHead(404).end();
      const size = this.o.job.model.size;
      const limit = gossipBytes(size);
      const body = await readBoundedBody(req, limit);
      if (!body) return void res.writeHead(413, { connection: "close" }).end("model too large\n");
      const { round, model } = decodeGossip(body);
      let w: Float64Array;
      try {
        w = decodeUpdate(model, size);
      } catch (err) {
        throw new WireError((err as Error).message);
      }
      this.inbox.set(node, { round, w });
      this.absent.delete(node);
      this.bytesInSinceRound += body.length;
      res.writeHead(204).end();
      this.wake?.();
    } catch (err) {
      // A request never ends the task: whatever it did wrong is its answer.
      if (!res.headersSent) res.writeHead(err instanceof WireError ? 400 : 500, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`);
    }
  }
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => (clearTimeout(t), reject(signal.reason));
    const t = setTimeout(() => (signal.removeEventListener("abort", onAbort), resolve()), ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
