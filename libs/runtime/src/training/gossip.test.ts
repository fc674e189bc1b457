// Gossip training over real HTTP: each peer its own TrainingRuntime (as N nodes would run), its
// pushes through a recording TCP proxy in front of each peer, no aggregator.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TRAINING_ENV, type GossipNeighbours, type TrainingProgress, type TrainingTaskConfig } from "@eiaas/api";
import { startTcpProxy, type TcpProxy } from "@eiaas/testing";
import { encodeDense32, generateShard } from "@eiaas/training";
import { spec as taskSpec, waitFor } from "../test-support.js";
import type { TaskResult } from "../types.js";
import { TrainingRuntime } from "./runtime.js";
import { encodeGossip } from "./wire.js";

const dirs: string[] = [];
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const names = ["peer-a", "peer-b", "peer-c", "peer-d", "peer-e"];
// The planner's graph for these five (libs/scheduling's gossipPeers): the ring and chords a–c, b–d.
const graph: Record<string, string[]> = {
  "peer-a": ["peer-b", "peer-c", "peer-e"],
  "peer-b": ["peer-a", "peer-c", "peer-d"],
  "peer-c": ["peer-a", "peer-b", "peer-d"],
  "peer-d": ["peer-b", "peer-c", "peer-e"],
  "peer-e": ["peer-a", "peer-d"],
};

function config(o: Partial<TrainingTaskConfig> = {}, training: Partial<TrainingTaskConfig["training"]> = {}): TrainingTaskConfig {
  return {
    seed: `gossip-${randomBytes(4).toString("hex")}`,
    training: {
      dataset: { name: "synthetic", alpha: 0.5, beta: 0.5, maxSamplesPerParticipant: 300 },
      model: "logreg",
      hidden: 16,
      learningRate: 0.05,
      batchSize: 10,
      roundDeadlineSeconds: 30,
      ...training,
    },
    rounds: 12,
    localSteps: 10,
    tau0: 10,
    maxLocalSteps: 50,
    compression: { type: "none" },
    participants: names,
    minParticipants: 1,
    mode: "gossip",
    peers: graph,
    ...o,
  };
}

interface Peer {
  result: Promise<TaskResult>;
  controller: AbortController;
  lines: string[];
  progress: TrainingProgress[];
}

/** One gossip job: a peer task per name, each on its own runtime; neighbours reach each other through recording proxies. */
function harness(cfg: TrainingTaskConfig) {
  const tokens = Object.fromEntries(names.map((p) => [p, randomBytes(16).toString("hex")]));
  const digest = (n: string) => createHash("sha256").update(tokens[n]!).digest("hex");
  const endpoints = new Map<string, string>();
  const wire = new Map<string, Buffer[]>(); // bytes each peer's proxy saw come in
  const dir = mkdtempSync(join(tmpdir(), "gossip-"));
  dirs.push(dir);
  const start = (node: string): Peer => {
    const rt = new TrainingRuntime({ checkpointDir: join(dir, node), power: { computeW: 5, transmitW: 2, uplinkMbps: 10 } });
    cleanups.push(() => rt.close());
    const neighbours: GossipNeighbours = Object.fromEntries(cfg.peers![node]!.map((n) => [n, { task: `task-${n}`, key: digest(n) }]));
    const controller = new AbortController();
    const lines: string[] = [];
    const progress: TrainingProgress[] = [];
    const env = { [TRAINING_ENV.config]: JSON.stringify(cfg), [TRAINING_ENV.token]: tokens[node]!, [TRAINING_ENV.neighbours]: JSON.stringify(neighbours) };
    const result = rt.start(taskSpec({ name: `task-${node}`, nodeName: node, role: "participant", env }), {
      signal: controller.signal,
      onLog: (l) => void lines.push(l),
      onStarted: async (info) => {
        const [host, port] = info.endpoint!.split(":");
        const chunks: Buffer[] = [];
        wire.set(node, chunks);
        const proxy: TcpProxy = await startTcpProxy({ host: host!, port: Number(port) }, (dir, chunk) => dir === "up" && chunks.push(chunk));
        cleanups.push(() => proxy.close());
        endpoints.set(node, `127.0.0.1:${proxy.port}`);
      },
      onProgress: (p) => void (p.training && progress.push(p.training)),
      lookupTask: async (name) => {
        const endpoint = endpoints.get(name.replace(/^task-/, ""));
        return endpoint ? { endpoint } : undefined;
      },
    });
    return { result, controller, lines, progress };
  };
  return { cfg, tokens, wire, endpoints, start };
}

const last = (p: Peer) => p.progress[p.progress.length - 1]!;

describe("gossip training (peers over real HTTP, no aggregator)", () => {
  it("converges: every peer's loss falls and held-out accuracy rises; KPIs per round; no raw sample crosses the wire", async () => {
    const h = harness(config());
    const peers = names.map((n) => h.start(n));
    for (const p of peers) expect((await p.result).exitCode).toBe(0);
    for (const [i, p] of peers.entries()) {
      const l = last(p);
      expect(l).toMatchObject({ round: 12, stoppedBecause: "RoundsDone" });
      const hist = l.history!;
      expect(hist.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(hist[11]!.loss!).toBeLessThan(hist[0]!.loss! * 0.8);
      expect(hist[11]!.testLoss!).toBeLessThan(hist[0]!.testLoss!);
      expect(hist[11]!.accuracy!).toBeGreaterThan(0.5); // of 10 classes
      const deg = graph[names[i]!]!.length;
      // Past round 1 (peers start one by one) every neighbour is mixed in.
      for (const r of hist.slice(2)) {
        expect(r).toMatchObject({ tau: 10, participants: deg + 1 });
        expect(r.missed).toBeUndefined();
        expect(r.energyJoules).toBeGreaterThan(0);
      }
      // Whole models, 4 bytes a parameter and 10 of framing, a push per neighbour and round (a
      // push counts in the round it was answered; one to a neighbour still busy with the previous
      // waits, and a newer one replaces it; the last round's may find a neighbour done).
      const push = 10 + 4 * 610;
      expect(l.bytesUp).toBe(hist.reduce((s, r) => s + r.bytesUp, 0));
      expect(l.bytesUp! % push).toBe(0);
      expect(l.bytesDown! % push).toBe(0);
      expect(l.bytesUp).toBeGreaterThanOrEqual(6 * deg * push);
      expect(l.bytesDown).toBeGreaterThanOrEqual(6 * deg * push);
    }
    // The peers agree: gossip pulled their held-out accuracies together.
    const accs = peers.map((p) => last(p).accuracy!);
    expect(Math.max(...accs) - Math.min(...accs)).toBeLessThan(0.1);

    // What reached any peer: no sample's features, as float32 or float64, anywhere in it.
    const seen = Buffer.concat([...h.wire.values()].flat());
    expect(seen.length).toBeGreaterThan(names.length * 2 * 10 * 2440);
    for (const n of names) {
      const shard = generateShard({ ...h.cfg.training.dataset, name: "synthetic", seed: h.cfg.seed, maxSamples: 300 }, n);
      for (let r = 0; r < shard.rows; r++) {
        expect(seen.includes(Buffer.from(Float32Array.from(shard.x.subarray(r * 60, r * 60 + 4)).buffer))).toBe(false);
        expect(seen.includes(Buffer.from(Float64Array.from(shard.x.subarray(r * 60, r * 60 + 2)).buffer))).toBe(false);
      }
    }
  }, 90_000);

  it("a peer killed mid-run: its neighbours leave it out after one deadline and the rest train to the end", async () => {
    const h = harness(config({ rounds: 10 }, { roundDeadlineSeconds: 1.5 }));
    const peers = names.map((n) => h.start(n));
    await waitFor(() => peers.every((p) => p.progress.some((x) => x.round >= 2)), "two rounds everywhere", 30_000);
    peers[2]!.controller.abort("killed");
    expect((await peers[2]!.result).reason).toBe("Cancelled");
    const victim = names[2]!;
    const neighbours = h.cfg.peers![victim]!;
    for (const [i, p] of peers.entries()) {
      if (i === 2) continue;
      expect((await p.result).exitCode).toBe(0);
      const hist = last(p).history!;
      expect(hist.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(hist[9]!.loss!).toBeLessThan(hist[0]!.loss!);
      const without = hist.filter((r) => r.missed?.includes(victim));
      if (neighbours.includes(names[i]!)) expect(without.length).toBeGreaterThanOrEqual(3);
      else expect(without).toEqual([]);
    }
  }, 90_000);

  it("answers hostile pushes without ending training: unknown token, garbage, oversize, non-finite", async () => {
    const h = harness(config({ rounds: 3 }, { roundDeadlineSeconds: 5 }));
    const a = h.start("peer-a");
    const url = await waitFor(() => h.endpoints.get("peer-a"), "peer-a's endpoint");
    const neighbour = h.cfg.peers!["peer-a"]![0]!;
    const auth = { authorization: `Bearer ${h.tokens[neighbour]}` };
    const model = encodeDense32(new Float64Array(610));
    expect((await fetch(`http://${url}/v1/gossip`, { method: "POST", body: encodeGossip(1, model) })).status).toBe(401);
    // a peer that is not peer-a's neighbour speaks for nobody here
    const stranger = names.find((n) => n !== "peer-a" && !h.cfg.peers!["peer-a"]!.includes(n))!;
    expect((await fetch(`http://${url}/v1/gossip`, { method: "POST", headers: { authorization: `Bearer ${h.tokens[stranger]}` }, body: encodeGossip(1, model) })).status).toBe(401);
    expect((await fetch(`http://${url}/v1/gossip`, { method: "POST", headers: auth, body: "garbage" })).status).toBe(400);
    expect((await fetch(`http://${url}/v1/gossip`, { method: "POST", headers: auth, body: Buffer.alloc(100_000) }).catch(() => ({ status: 413 }))).status).toBe(413);
    const nan = Buffer.from(model);
    nan.writeFloatLE(NaN, 5);
    expect((await fetch(`http://${url}/v1/gossip`, { method: "POST", headers: auth, body: encodeGossip(1, nan) })).status).toBe(400);
    expect((await fetch(`http://${url}/v1/gossip`, { method: "POST", headers: auth, body: encodeGossip(0, model) })).status).toBe(400);
    // the job still trains with the real peers
    const rest = names.filter((n) => n !== "peer-a").map((n) => h.start(n));
    expect((await a.result).exitCode).toBe(0);
    for (const p of rest) expect((await p.result).exitCode).toBe(0);
    expect(last(a).history!.map((r) => r.round)).toEqual([1, 2, 3]);
    expect(last(a).history!.every((r) => Number.isFinite(r.loss))).toBe(true);
  }, 60_000);
});
