// The control plane's share of a round with the real training runtime over HTTP on this machine:
// an aggregator and N participants (each its own TrainingRuntime, as N nodes would run), and the
// aggregator's `overheadMs` — from the round's last counted update to the next round's publication
// (FedAvg, held-out evaluation, τ, checkpoint, KPI report).
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TRAINING_ENV, type TrainingProgress, type TrainingTaskConfig } from "@eiaas/api";
import { TrainingRuntime } from "@eiaas/runtime";

export async function measureOverhead(participants: number, rounds: number): Promise<{ overheadMs: number[]; wallSeconds: number[] }> {
  const names = Array.from({ length: participants }, (_, i) => `p-${i}`);
  const cfg: TrainingTaskConfig = {
    seed: `bench-${randomBytes(4).toString("hex")}`,
    training: { dataset: { name: "synthetic", alpha: 0.5, beta: 0.5, maxSamplesPerParticipant: 300 }, model: "logreg", hidden: 32, learningRate: 0.01, batchSize: 10, roundDeadlineSeconds: 120 },
    rounds,
    localSteps: 5,
    tau0: 5,
    maxLocalSteps: 50,
    compression: { type: "none" },
    participants: names,
    minParticipants: participants,
  };
  const tokens = names.map(() => randomBytes(16).toString("hex"));
  const keys = Object.fromEntries(names.map((n, i) => [n, createHash("sha256").update(tokens[i]!).digest("hex")]));
  const dir = mkdtempSync(join(tmpdir(), "bench-training-"));
  const runtimes: TrainingRuntime[] = [];
  let endpoint: string | undefined;
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
    onStarted: (i: { endpoint?: string }) => void (i.endpoint && (endpoint = i.endpoint)),
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
    // Round 1 waits for every participant to start: not the steady state.
    return { overheadMs: h.slice(1).map((r) => r.overheadMs ?? NaN), wallSeconds: h.slice(1).map((r) => r.wallSeconds) };
  } finally {
    await Promise.all(runtimes.map((r) => r.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}
