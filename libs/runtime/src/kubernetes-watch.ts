// Following one task's Pod through the Kubernetes API: its versions until it is over (a watch,
// re-established from the last resourceVersion when it breaks) and its container's log.
import { PassThrough } from "node:stream";
import { ApiException, Log, Watch, type CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { TASK_CONTAINER } from "./kubernetes-pod.js";
import { forEachLine } from "./lines.js";
import type { TaskResult } from "./types.js";

export const isStatus = (err: unknown, code: number) => err instanceof ApiException && err.code === code;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PodWatchOptions {
  kc: KubeConfig;
  api: CoreV1Api;
  namespace: string;
  name: string;
  /** The Pod as created or adopted: observed first, and the watch starts after its version. */
  initial: V1Pod;
  /** Aborting it ends the watch with `cancelled()`. */
  signal: AbortSignal;
  cancelled(): TaskResult;
  /** Pause before re-watching after a watch broke. */
  rewatchDelayMs: number;
  /** Each version of the Pod seen, in order; a result ends the watch with it. */
  observe(pod: V1Pod): TaskResult | undefined;
  /** The runtime's own lines (an API server unreachable while re-reading). */
  onLog(line: string): void;
}

/**
 * Watches the Pod until `observe` returns a result, the Pod is deleted (PodDeleted) or the signal
 * aborts. A broken watch (an ERROR such as 410 Gone, a dropped connection) is followed by a read
 * of the Pod and a new watch from its version, for as long as the API server cannot be reached.
 */
export function watchPod(o: PodWatchOptions): Promise<TaskResult> {
  const { namespace, name, signal } = o;
  return new Promise<TaskResult>((resolve) => {
    let finished = false;
    let watchController: AbortController | undefined;
    const finish = (r: TaskResult) => {
      if (finished) return;
      finished = true;
      signal.removeEventListener("abort", onAbort);
      watchController?.abort();
      resolve(r);
    };
    const onAbort = () => finish(o.cancelled());
    signal.addEventListener("abort", onAbort, { once: true });
    const observe = (p: V1Pod) => {
      const result = o.observe(p);
      if (result) finish(result);
    };
    const gone = (): TaskResult => ({ exitCode: 137, reason: "PodDeleted", message: `pod ${namespace}/${name} was deleted` });

    const watchOnce = (resourceVersion: string | undefined, seen: (rv: string) => void) =>
      new Promise<void>((done) => {
        new Watch(o.kc)
          .watch(
            `/api/v1/namespaces/${namespace}/pods`,
            { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: true },
            (type: string, obj: V1Pod) => {
              // ERROR (e.g. 410 Gone: the version is too old) ends this watch; the loop re-reads.
              if (type === "ERROR") return void watchController?.abort();
              if (obj?.metadata?.resourceVersion) seen(obj.metadata.resourceVersion);
              if (type === "DELETED") return finish(gone());
              if (type === "ADDED" || type === "MODIFIED") observe(obj);
            },
            () => done(),
          )
          .then((c) => (watchController = c))
          .catch(() => done());
      });

    const watchLoop = async () => {
      let resourceVersion = o.initial.metadata?.resourceVersion;
      let readFailures = 0;
      observe(o.initial);
      while (!finished) {
        await watchOnce(resourceVersion, (rv) => (resourceVersion = rv));
        if (finished) break;
        await sleep(o.rewatchDelayMs);
        if (finished) break;
        try {
          const current = await o.api.readNamespacedPod({ name, namespace });
          resourceVersion = current.metadata?.resourceVersion;
          readFailures = 0;
          observe(current);
        } catch (err) {
          if (isStatus(err, 404)) finish(gone());
          // Keep trying while the API is unreachable; say so once per outage.
          else if (readFailures++ === 0) o.onLog(`cannot read pod ${name}, retrying: ${(err as Error).message}`);
        }
      }
    };
    void watchLoop();
  });
}

/** A followed container log: `done` once the stream ended; `stop()` ends it. */
export interface FollowedLog {
  done: Promise<void>;
  stop(): void;
}

/** Follows the task container's log, each line to `onLine`; a log that cannot be read is said once in `onError`. */
export function followPodLog(kc: KubeConfig, namespace: string, name: string, onLine: (line: string) => void, onError: (line: string) => void): FollowedLog {
  const stream = new PassThrough();
  const done = forEachLine(stream, onLine);
  let controller: AbortController | undefined;
  let stopped = false;
  new Log(kc)
    .log(namespace, name, TASK_CONTAINER, stream, { follow: true })
    .then((c) => {
      controller = c;
      if (stopped) c.abort();
    })
    .catch((err: unknown) => {
      onError(`cannot follow the log of pod ${name}: ${(err as Error).message}`);
      stream.end();
    });
  return {
    done,
    stop: () => {
      stopped = true;
      controller?.abort();
    },
  };
}
