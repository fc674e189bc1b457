import { createHash } from "node:crypto";
import type { V1Pod } from "@kubernetes/client-node";
import { declaredPort, taskEnvironment } from "./environment.js";
import type { TaskResult, TaskRunSpec } from "./types.js";

/** The task's container in its Pod. */
export const TASK_CONTAINER = "task";

export interface PodOptions {
  /** Kubernetes namespace of the Pods. */
  namespace: string;
  /** Kubernetes node the Pod is bound to; defaults to the task's EdgeNode name. */
  nodeName?: string;
  serviceAccountName?: string;
  imagePullPolicy?: string;
  /** Seconds a stopped Pod gets to exit before it is killed. */
  terminationGracePeriodSeconds?: number;
}

const shortHash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 8);

/** Cuts `s` to `max` characters keeping it unique (a hash suffix) and ending alphanumeric. */
function fit(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max - 9).replace(/[^a-z0-9]+$/i, "")}-${shortHash(s)}`;
}

/** `eiaas-<ns>-<task>-<attempt>`, shortened with a hash when over 63 characters (a DNS label). */
export function podName(task: Pick<TaskRunSpec, "namespace" | "name" | "attempt">): string {
  return fit(`eiaas-${task.namespace}-${task.name}-${task.attempt}`.replace(/\./g, "-"), 63);
}

/** A label value (≤ 63 characters). */
const labelValue = (s: string) => fit(s, 63);

/** The labels that identify a task's Pod (and select it with `eiaas.io/task-uid=…`). */
export function podLabels(task: TaskRunSpec): Record<string, string> {
  return {
    "app.kubernetes.io/managed-by": "eiaas",
    "eiaas.io/task": labelValue(task.name),
    "eiaas.io/namespace": task.namespace,
    "eiaas.io/task-uid": labelValue(task.uid),
    "eiaas.io/attempt": String(task.attempt),
    "eiaas.io/node": labelValue(task.nodeName),
  };
}

/**
 * The Pod of a task: bound to its node with `spec.nodeName` (no scheduler involved: eiaas already
 * placed it), never restarted (a retry is a new attempt), the task's command as the container's
 * args (so the image's entrypoint runs it, as `docker run IMAGE CMD…` does), its env, and its
 * resources as requests and limits.
 *
 * It meets Pod Security's "restricted" level, which the Helm chart enforces on the workload
 * namespace: non-root (the image must declare a numeric non-root USER), no privilege escalation,
 * every capability dropped, the RuntimeDefault seccomp profile, and no ServiceAccount token (a
 * task has no business with the Kubernetes API).
 */
export function buildPod(task: TaskRunSpec, options: PodOptions): V1Pod {
  const env = taskEnvironment(task);
  const port = declaredPort(env);
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (task.resources.cpu > 0) requests.cpu = limits.cpu = `${Math.ceil(task.resources.cpu)}m`;
  if (task.resources.memoryMiB > 0) requests.memory = limits.memory = `${Math.ceil(task.resources.memoryMiB)}Mi`;
  if (task.resources.gpu > 0) limits["nvidia.com/gpu"] = String(task.resources.gpu);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: podName(task),
      namespace: options.namespace,
      labels: podLabels(task),
      annotations: { "eiaas.io/task": `${task.namespace}/${task.name}`, "eiaas.io/task-uid": task.uid },
    },
    spec: {
      nodeName: options.nodeName ?? task.nodeName,
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      ...(options.serviceAccountName ? { serviceAccountName: options.serviceAccountName } : {}),
      ...(options.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: options.terminationGracePeriodSeconds } : {}),
      containers: [
        {
          name: TASK_CONTAINER,
          image: task.template.image,
          ...(task.template.command?.length ? { args: task.template.command } : {}),
          ...(options.imagePullPolicy ? { imagePullPolicy: options.imagePullPolicy } : {}),
          env: Object.keys(env)
            .sort()
            .map((name) => ({ name, value: env[name] as string })),
          ...(port !== undefined ? { ports: [{ containerPort: port, name: "serve" }] } : {}),
          resources: { requests, limits },
          securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
    },
  };
}

/** Container states Kubernetes would wait in forever that no retry can fix: fail the task instead. */
const FATAL_WAITING_REASONS = new Set(["InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError"]);

/** The task's result once its Pod is over, or undefined while it is not. */
export function podOutcome(pod: V1Pod): TaskResult | undefined {
  const phase = pod.status?.phase;
  const status = pod.status?.containerStatuses?.find((c) => c.name === TASK_CONTAINER);
  const waiting = status?.state?.waiting;
  if (waiting?.reason && FATAL_WAITING_REASONS.has(waiting.reason)) {
    return { exitCode: 128, reason: waiting.reason, message: waiting.message ?? waiting.reason };
  }
  if (phase !== "Succeeded" && phase !== "Failed") return undefined;
  const terminated = status?.state?.terminated;
  if (terminated) {
    const result: TaskResult = { exitCode: terminated.exitCode };
    if (terminated.exitCode !== 0 || phase === "Failed") result.reason = terminated.reason ?? "Error";
    if (terminated.message) result.message = terminated.message;
    return result;
  }
  // Failed without a terminated container: evicted, or the node rejected the Pod.
  if (phase === "Succeeded") return { exitCode: 0 };
  return { exitCode: 1, reason: pod.status?.reason ?? "Failed", message: pod.status?.message ?? "pod failed" };
}

/** Whether the Pod's task has started (its container runs or ran). */
export function podStarted(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase === "Running" || phase === "Succeeded" || phase === "Failed";
}
