import { CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { declaredPort, taskEnvironment } from "./environment.js";
import { buildPod, podName, podOutcome, podStarted, type PodOptions } from "./kubernetes-pod.js";
import { followPodLog, isStatus, sleep, watchPod, type FollowedLog } from "./kubernetes-watch.js";
import { INFERENCE_ROLES } from "./onnx-config.js";
import { relayRunTimings } from "./run-timings.js";
import { TaskTracker } from "./tracker.js";
import { CANCELLED_EXIT_CODE, taskKey, type TaskHooks, type TaskResult, type TaskRunSpec, type TaskRuntime } from "./types.js";

export interface KubernetesRuntimeOptions extends Partial<PodOptions> {
  /** Cluster access. @defaultValue `KubeConfig.loadFromDefault()` (in-cluster or ~/.kube/config) */
  kubeConfig?: KubeConfig;
  /** Delete a task's Pod once it finished (its log is in the agent's tail by then). @defaultValue true */
  deleteOnCompletion?: boolean;
  /** After the Pod finished, how long to wait for the rest of its log. @defaultValue 5000 */
  logDrainMs?: number;
  /** Pause before re-watching after a watch broke. @defaultValue 1000 */
  rewatchDelayMs?: number;
  /**
   * How often a serving task's Pod is asked for its run times (`GET /v1/timings` on its endpoint,
   * the Pod's IP and `EIAAS_PORT`), handed to the agent (`TaskHooks.recordSegmentTiming`, for
   * ModelProfiles). @defaultValue 2000
   */
  timingsPollMs?: number;
}

/**
 * Runs each task as a Pod bound to its node (`spec.nodeName`) in one namespace, through
 * @kubernetes/client-node: create (adopting the Pod left by an earlier run of the same attempt),
 * watch it to completion (re-watching from the last resourceVersion when the watch breaks, after
 * re-reading the Pod), follow its container log once it runs, and delete it when stopped (or when
 * finished, by default). The exit code is the container's.
 *
 * A serving task (roles serve, head, tail, with a layer range and an `EIAAS_PORT`) runs
 * `eiaas-serve` in its Pod: once the Pod runs, its run times are read from its endpoint every
 * `timingsPollMs` and handed to the agent, as the docker runtime does for its containers.
 */
export class KubernetesRuntime implements TaskRuntime {
  readonly name = "kubernetes" as const;
  private readonly tracker = new TaskTracker();
  private readonly kc: KubeConfig;
  private readonly api: CoreV1Api;
  private readonly namespace: string;

  constructor(private readonly options: KubernetesRuntimeOptions = {}) {
    this.kc = options.kubeConfig ?? KubernetesRuntime.defaultConfig();
    this.api = this.kc.makeApiClient(CoreV1Api);
    this.namespace = options.namespace ?? "default";
  }

  private static defaultConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return kc;
  }

  async start(task: TaskRunSpec, hooks: TaskHooks): Promise<TaskResult> {
    const key = taskKey(task);
    const { signal, end } = this.tracker.begin(key, hooks.signal);
    try {
      return await this.run(task, hooks, signal);
    } finally {
      end();
    }
  }

  private async run(task: TaskRunSpec, hooks: TaskHooks, signal: AbortSignal): Promise<TaskResult> {
    if (!task.template.image) return { exitCode: 125, reason: "StartError", message: "the task's template has no image" };
    const namespace = this.namespace;
    const name = podName(task);
    const cancelled = (): TaskResult => ({ exitCode: CANCELLED_EXIT_CODE, reason: "Cancelled", message: String(signal.reason ?? "cancelled") });
    if (signal.aborted) return cancelled();

    let pod: V1Pod;
    try {
      pod = await this.createOrAdopt(task, name);
    } catch (err) {
      return { exitCode: 128, reason: "StartError", message: `cannot create pod ${namespace}/${name}: ${(err as Error).message}` };
    }
    hooks.onLog(`pod ${namespace}/${name} created on node ${pod.spec?.nodeName ?? "?"}`, "system");

    const port = declaredPort(taskEnvironment(task));
    const endpointOf = (p: V1Pod) => (p.status?.podIP && port !== undefined ? `${p.status.podIP}:${port}` : undefined);
    let logs: FollowedLog | undefined;
    let last: V1Pod = pod;
    let endRun!: () => void;
    const ended = new Promise<void>((r) => (endRun = r));
    let relaying = false;
    const result = await watchPod({
      kc: this.kc,
      api: this.api,
      namespace,
      name,
      initial: pod,
      signal,
      cancelled,
      rewatchDelayMs: this.options.rewatchDelayMs ?? 1000,
      onLog: (line) => hooks.onLog(line, "system"),
      observe: (p) => {
        last = p;
        const endpoint = endpointOf(p);
        if (!logs && podStarted(p)) {
          hooks.onStarted?.(endpoint ? { endpoint } : {});
          logs = followPodLog(
            this.kc,
            namespace,
            name,
            (l) => hooks.onLog(l, "stdout"),
            (l) => hooks.onLog(l, "system"),
          );
        }
        if (logs && !relaying && endpoint) relaying = this.relayTimings(task, p, port!, hooks, ended);
        const outcome = podOutcome(p);
        return outcome && endpoint ? { ...outcome, endpoint } : outcome;
      },
    });
    endRun();

    // Delete a stopped Pod, one stuck in a state no retry fixes, and (by default) a finished one.
    const cleanup = result.reason !== "PodDeleted" && (result.reason === "Cancelled" || !isFinished(last) || this.options.deleteOnCompletion !== false);
    if (logs) {
      // Let the log stream deliver what the container printed last, then stop it.
      await Promise.race([logs.done, sleep(result.reason === "Cancelled" ? 0 : (this.options.logDrainMs ?? 5000))]);
      logs.stop();
    }
    if (cleanup) await this.deletePod(name, hooks);
    return result;
  }

  /**
   * A serving task's Pod answers its clients directly, not through the agent: its run times are
   * read back from the Pod's endpoint (`/v1/timings`) until the run ends. False when the task
   * serves no layer range (nothing to attribute figures to).
   */
  private relayTimings(task: TaskRunSpec, pod: V1Pod, port: number, hooks: TaskHooks, ended: Promise<void>): boolean {
    if (!INFERENCE_ROLES.has(task.role) || !task.layers || !pod.status?.podIP) return false;
    void relayRunTimings(task, { host: pod.status.podIP, port, layers: task.layers }, hooks, ended, this.options.timingsPollMs);
    return true;
  }

  private async createOrAdopt(task: TaskRunSpec, name: string): Promise<V1Pod> {
    const body = buildPod(task, { ...this.options, namespace: this.namespace });
    try {
      return await this.api.createNamespacedPod({ namespace: this.namespace, body });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      // A Pod of this name exists: ours from before an agent restart (same task uid) is watched
      // again; anything else is a real conflict.
      const existing = await this.api.readNamespacedPod({ name, namespace: this.namespace });
      if (existing.metadata?.annotations?.["eiaas.io/task-uid"] !== task.uid) throw err;
      return existing;
    }
  }

  private async deletePod(name: string, hooks: TaskHooks): Promise<void> {
    try {
      await this.api.deleteNamespacedPod({
        name,
        namespace: this.namespace,
        ...(this.options.terminationGracePeriodSeconds !== undefined ? { gracePeriodSeconds: this.options.terminationGracePeriodSeconds } : {}),
      });
    } catch (err) {
      if (!isStatus(err, 404)) hooks.onLog(`cannot delete pod ${name}: ${(err as Error).message}`, "system");
    }
  }

  stop(key: string, reason?: string): Promise<boolean> {
    return this.tracker.stop(key, reason);
  }

  running(): string[] {
    return this.tracker.keys();
  }

  close(): Promise<void> {
    return this.tracker.stopAll();
  }
}

function isFinished(p: V1Pod): boolean {
  return p.status?.phase === "Succeeded" || p.status?.phase === "Failed";
}
