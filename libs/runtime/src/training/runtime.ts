import { join } from "node:path";
import { gossipNeighbours, TRAINING_ENV, type TrainingProgress } from "@eiaas/api";
import { declaredPort, taskEnvironment } from "../environment.js";
import { SimulatedRuntime } from "../simulated.js";
import { TaskTracker } from "../tracker.js";
import { CANCELLED_EXIT_CODE, taskKey, type TaskHooks, type TaskResult, type TaskRunSpec, type TaskRuntime } from "../types.js";
import { Aggregator } from "./aggregator.js";
import { CheckpointStore } from "./checkpoint.js";
import { GossipPeer } from "./gossip-peer.js";
import { jobFromEnv, type NodePower } from "./job.js";
import { runParticipant } from "./participant.js";

export interface TrainingRuntimeOptions {
  /** Where aggregators keep their checkpoints (the agent's state dir + `/training`). */
  checkpointDir: string;
  /** Address aggregators listen on. @defaultValue "127.0.0.1" */
  bindHost?: string;
  /** Host part of the endpoint aggregators advertise. @defaultValue bindHost */
  advertiseHost?: string;
  /** The node's power model and uplink, for participants' energy estimates (by node name, for a runtime shared by a simulated fleet). */
  power?: NodePower | ((nodeName: string) => NodePower | undefined);
  /** Runs every task that is not a real training task (no training config). @defaultValue a SimulatedRuntime */
  fallback?: TaskRuntime;
}

/**
 * Runs federated and gossip training for real in the agent's process: a task with a training config
 * (`EIAAS_TRAINING`, set by the scheduler for jobs with `spec.training`) is an aggregator
 * (HTTP server, FedAvg, τ control, checkpoints, KPIs through {@link TaskHooks.onProgress}) or a
 * participant (local shard, local SGD, compressed updates; finds its aggregator through
 * {@link TaskHooks.lookupTask}) — or, for a gossip job, a peer (HTTP server for its neighbours'
 * pushes, local SGD, mixing; finds its neighbours through {@link TaskHooks.lookupTask}). Any other
 * task goes to the fallback runtime.
 */
export class TrainingRuntime implements TaskRuntime {
  readonly name = "training" as const;
  private readonly tracker = new TaskTracker();
  private readonly fallback: TaskRuntime;
  private readonly checkpoints: CheckpointStore;

  constructor(private readonly o: TrainingRuntimeOptions) {
    this.fallback = o.fallback ?? new SimulatedRuntime();
    this.checkpoints = new CheckpointStore(o.checkpointDir);
  }

  async start(task: TaskRunSpec, hooks: TaskHooks): Promise<TaskResult> {
    const env = taskEnvironment(task);
    const training = env[TRAINING_ENV.config] !== undefined && (task.role === "aggregator" || task.role === "participant");
    if (!training) return this.fallback.start(task, hooks);
    const key = taskKey(task);
    const { signal, end } = this.tracker.begin(key, hooks.signal);
    const log = (line: string) => hooks.onLog(line, "stdout");
    try {
      const job = jobFromEnv(env[TRAINING_ENV.config]);
      if (task.role === "aggregator") {
        const keys = JSON.parse(env[TRAINING_ENV.keys] ?? "{}") as Record<string, string>;
        const agg = new Aggregator({
          job,
          keys,
          checkpoints: this.checkpoints,
          checkpointKey: `${task.namespace}/${job.config.seed}`,
          bindHost: this.o.bindHost ?? "127.0.0.1",
          port: declaredPort(env) ?? 0,
          log,
          onProgress: (training: TrainingProgress) => hooks.onProgress?.({ training }),
          signal,
        });
        const { endpointPort, finished } = await agg.run();
        const endpoint = `${this.o.advertiseHost ?? this.o.bindHost ?? "127.0.0.1"}:${endpointPort}`;
        hooks.onStarted?.({ endpoint });
        await finished;
        return signal.aborted ? cancelled(signal, endpoint) : { exitCode: 0, endpoint };
      }
      const token = env[TRAINING_ENV.token];
      const power = (typeof this.o.power === "function" ? this.o.power(task.nodeName) : this.o.power) ?? { computeW: 0, transmitW: 0, uplinkMbps: 0 };
      if (job.config.mode === "gossip") {
        if (!token) return { exitCode: 2, reason: "StartError", message: "a gossip peer needs its token" };
        const peer = new GossipPeer({
          job,
          node: task.nodeName,
          token,
          neighbours: gossipNeighbours.parse(JSON.parse(env[TRAINING_ENV.neighbours] ?? "{}")),
          lookupEndpoint: async (name) => (await hooks.lookupTask?.(name))?.endpoint,
          power,
          bindHost: this.o.bindHost ?? "127.0.0.1",
          port: declaredPort(env) ?? 0,
          log,
          onProgress: (training: TrainingProgress) => hooks.onProgress?.({ training }),
          signal,
        });
        const { port, finished } = await peer.listen();
        const endpoint = `${this.o.advertiseHost ?? this.o.bindHost ?? "127.0.0.1"}:${port}`;
        hooks.onStarted?.({ endpoint });
        await finished;
        return { exitCode: 0, endpoint };
      }
      const aggregatorTask = env[TRAINING_ENV.aggregatorTask];
      if (!token || !aggregatorTask) return { exitCode: 2, reason: "StartError", message: "a participant needs its token and its aggregator's task" };
      hooks.onStarted?.({});
      await runParticipant({
        job,
        node: task.nodeName,
        token,
        resolveAggregator: async () => (await hooks.lookupTask?.(aggregatorTask))?.endpoint,
        power,
        log,
        signal,
      });
      return { exitCode: 0 };
    } catch (err) {
      if (signal.aborted) return cancelled(signal);
      hooks.onLog(`training failed: ${(err as Error).message}`, "stderr");
      return { exitCode: 1, reason: "Error", message: (err as Error).message.slice(0, 500) };
    } finally {
      end();
    }
  }

  async stop(key: string, reason?: string): Promise<boolean> {
    return (await this.tracker.stop(key, reason)) || this.fallback.stop(key, reason);
  }

  running(): string[] {
    return [...this.tracker.keys(), ...this.fallback.running()];
  }

  async close(): Promise<void> {
    await Promise.all([this.tracker.stopAll(), this.fallback.close()]);
  }
}

function cancelled(signal: AbortSignal, endpoint?: string): TaskResult {
  return { exitCode: CANCELLED_EXIT_CODE, reason: "Cancelled", message: String(signal.reason ?? "cancelled"), ...(endpoint ? { endpoint } : {}) };
}

/** Where an agent with state dir `stateDir` keeps training checkpoints. */
export function checkpointDirOf(stateDir: string): string {
  return join(stateDir, "training");
}
