import { PassThrough } from "node:stream";
import { ApiException, CoreV1Api, KubeConfig, Log, Watch, type V1Pod } from "@kubernetes/client-node";
import { declaredPort, taskEnvironment } from "./environment.js";
import { buildPod, podName, podOutcome, podStarted, TASK_CONTAINER, type PodOptions } from "./kubernetes-pod.js";
import { forEachLine } from "./lines.js";
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
}

const isStatus = (err: unknown, code: number) => err instanceof ApiException && err.code === code;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs each task as a Pod bound to its node (`spec.nodeName`) in one namespace, through
 * @kubernetes/client-node: create (adopting the Pod left by an earlier run of the same attempt),
 * watch it to completion (re-watching from the last resourceVersion when the watch breaks, after
 * re-reading the Pod), follow its container log once it runs, and delete it when stopped (or when
 * finished, by default). The exit code is the container's.
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
    let logs: { controller?: AbortController; done: Promise<void> } | undefined;
    const followLogs = () => {
      const stream = new PassThrough();
      const done = forEachLine(stream, (l) => hooks.onLog(l, "stdout"));
      logs = { done };
      new Log(this.kc)
        .log(namespace, name, TASK_CONTAINER, stream, { follow: true })
        .then((controller) => (logs!.controller = controller))
        .catch((err: unknown) => {
          hooks.onLog(`cannot follow the log of pod ${name}: ${(err as Error).message}`, "system");
          stream.end();
        });
    };

    let started = false;
    let last: V1Pod = pod;
    const result = await new Promise<TaskResult>((resolve) => {
      let finished = false;
      let watchController: AbortController | undefined;
      const finish = (r: TaskResult) => {
        if (finished) return;
        finished = true;
        signal.removeEventListener("abort", onAbort);
        watchController?.abort();
        resolve(r);
      };
      const onAbort = () => finish(cancelled());
      signal.addEventListener("abort", onAbort, { once: true });
      const endpointOf = (p: V1Pod) => (p.status?.podIP && port !== undefined ? `${p.status.podIP}:${port}` : undefined);
      const observe = (p: V1Pod) => {
        last = p;
        const endpoint = endpointOf(p);
        if (!started && podStarted(p)) {
          started = true;
          hooks.onStarted?.(endpoint ? { endpoint } : {});
          followLogs();
        }
        const outcome = podOutcome(p);
        if (outcome) finish(endpoint ? { ...outcome, endpoint } : outcome);
      };
      const gone = (): TaskResult => ({ exitCode: 137, reason: "PodDeleted", message: `pod ${namespace}/${name} was deleted` });

      const watchLoop = async () => {
        let resourceVersion = pod.metadata?.resourceVersion;
        let readFailures = 0;
        observe(pod);
        while (!finished) {
          const ended = new Promise<void>((done) => {
            new Watch(this.kc)
              .watch(
                `/api/v1/namespaces/${namespace}/pods`,
                { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: true },
                (type: string, obj: V1Pod) => {
                  // ERROR (e.g. 410 Gone: the version is too old) ends this watch; the loop re-reads.
                  if (type === "ERROR") return void watchController?.abort();
                  if (obj?.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
                  if (type === "DELETED") return finish(gone());
                  if (type === "ADDED" || type === "MODIFIED") observe(obj);
                },
                () => done(),
              )
              .then((c) => (watchController = c))
              .catch(() => done());
          });
          await ended;
          if (finished) break;
          await sleep(this.options.rewatchDelayMs ?? 1000);
          if (finished) break;
          try {
            const current = await this.api.readNamespacedPod({ name, namespace });
            resourceVersion = current.metadata?.resourceVersion;
            readFailures = 0;
            observe(current);
          } catch (err) {
            if (isStatus(err, 404)) finish(gone());
            // Keep trying while the API is unreachable; say so once per outage.
            else if (readFailures++ === 0) hooks.onLog(`cannot read pod ${name}, retrying: ${(err as Error).message}`, "system");
          }
        }
      };
      void watchLoop();
    });

    // Delete a stopped Pod, one stuck in a state no retry fixes, and (by default) a finished one.
    const cleanup =
      result.reason !== "PodDeleted" && (result.reason === "Cancelled" || !isFinished(last) || this.options.deleteOnCompletion !== false);
    if (logs) {
      // Let the log stream deliver what the container printed last, then stop it.
      await Promise.race([logs.done, sleep(result.reason === "Cancelled" ? 0 : (this.options.logDrainMs ?? 5000))]);
      logs.controller?.abort();
    }
    if (cleanup) await this.deletePod(name, hooks);
    return result;
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
      await this.api.deleteNamespacedPod({ name, namespace: this.namespace, ...(this.options.terminationGracePeriodSeconds !== undefined ? { gracePeriodSeconds: this.options.terminationGracePeriodSeconds } : {}) });
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
