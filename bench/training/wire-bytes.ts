// What crosses the participants' sockets with the real training runtime over HTTP: an aggregator
// and N participants (each its own TrainingRuntime) behind a recording TCP proxy, per compression.
// Two figures per round and participant: the update bodies the aggregator counts (`bytesUp`: our
// binary framing — the report header and the update's frame — included), and every byte the
// participant's sockets sent (the model requests and the update posts with their HTTP headers).
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TRAINING_ENV, type TrainingProgress, type TrainingTaskConfig } from "@eiaas/api";
import { TrainingRuntime } from "@eiaas/runtime";
import { startTcpProxy, type TcpProxy } from "@eiaas/testing";

export interface WireBytes {
  /** Update bodies per participant and round (the KPI). */
  bodyPerUpdate: number;
  /** Everything the participant's sockets sent, per participant and round. */
  socketPerRound: number;
  accuracy: number;
  /** The last round's training loss (tells the variants' models apart where accuracy ties). */
  loss: number;
}

export async function measureWire(compression: TrainingTaskConfig["compression"], participants = 5, rounds = 20): Promise<WireBytes> {
  const names = Array.from({ length: participants }, (_, i) => `w-${i}`);
  const cfg: TrainingTaskConfig = {
    seed: "bench-wire",
    training: { dataset: { name: "synthetic", alpha: 0.5, beta: 0.5, maxSamplesPerParticipant: 2000 }, model: "logreg", hidden: 32, learningRate: 0.01, batchSize: 10, roundDeadlineSeconds: 120 },
    rounds,
    localSteps: 20,
    tau0: 20,
    maxLocalSteps: 50,
    compression,
    participants: names,
    minParticipants: participants,
  };
  const tokens = names.map(() => randomBytes(16).toString("hex"));
  const keys = Object.fromEntries(names.map((n, i) => [n, createHash("sha256").update(tokens[i]!).digest("hex")]));
  const dir = mkdtempSync(join(tmpdir(), "bench-wire-"));
  const runtimes: TrainingRuntime[] = [];
  let proxy: TcpProxy | undefined;
  let endpoint: string | undefined;
  let up = 0;
  let last: TrainingProgress | undefined;
  const base = (name: string, node: string, role: "aggregator" | "participant", env: Record<string, string>) => ({
    namespace: "bench",
    name,
    uid: name,
    attempt: 1,
    nodeName: node,
    role,
    template: {},
    env: { [TRAINING_ENV.config]: JSON.stringify(cfg), ...env },
    resources: { cpu: 0, memoryMiB: 0, gpu: 0 },
  });
  const hooks = () => ({
    signal: new AbortController().signal,
    onLog: () => undefined,
    onStarted: async (i: { endpoint?: string }) => {
      if (!i.endpoint) return;
      const [host, port] = i.endpoint.split(":");
      proxy = await startTcpProxy({ host: host!, port: Number(port) }, (dir, chunk) => void (dir === "up" && (up += chunk.length)));
      endpoint = `127.0.0.1:${proxy.port}`;
    },
    onProgress: (p: { training: TrainingProgress }) => void (last = p.training),
    lookupTask: async () => (endpoint ? { endpoint } : undefined),
  });
  try {
    const agg = new TrainingRuntime({ checkpointDir: dir });
    runtimes.push(agg);
    const done = [agg.start(base("agg", "edge", "aggregator", { [TRAINING_ENV.keys]: JSON.stringify(keys) }), hooks())];
    names.forEach((n, i) => {
      const rt = new TrainingRuntime({ checkpointDir: join(dir, n) });
      runtimes.push(rt);
      done.push(rt.start(base(`part-${n}`, n, "participant", { [TRAINING_ENV.token]: tokens[i]!, [TRAINING_ENV.aggregatorTask]: "agg" }), hooks()));
    });
    await Promise.all(done);
    const h = last?.history ?? [];
    const updates = h.reduce((s, r) => s + r.participants, 0);
    return {
      bodyPerUpdate: h.reduce((s, r) => s + r.bytesUp, 0) / updates,
      // Each participant also fetched the final model (marked done) once: its request is in `up` too.
      socketPerRound: up / updates,
      accuracy: h[h.length - 1]?.accuracy ?? NaN,
      loss: h[h.length - 1]?.loss ?? NaN,
    };
  } finally {
    await Promise.all(runtimes.map((r) => r.close()));
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
