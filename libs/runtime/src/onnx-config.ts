import { availableParallelism } from "node:os";
import { nextStageUrl } from "@eiaas/serving";
import { declaredPort, taskEnvironment } from "./environment.js";
import type { TaskRunSpec } from "./types.js";

/** The task roles that serve inference: the whole chain (serve) or one side of a split (head, tail). */
export const INFERENCE_ROLES: ReadonlySet<string> = new Set(["serve", "head", "tail"]);

/** What the `onnx` runtime reads from a serve task besides its segment bytes. */
export interface ServeTaskConfig {
  /** `EIAAS_PORT` when the task declares one; else 0 (a free port, reported as the endpoint). */
  port: number;
  /** `EIAAS_EXIT_THRESHOLD`: top-1 confidence at which an exit head answers (0..1). */
  exitThreshold?: number;
  /** `EIAAS_NEXT_ENDPOINT`: `host:port` of the next stage (a split plan's tail). */
  next?: string;
  /**
   * `EIAAS_NEXT_TASK`: the name of the next stage's Task (same namespace), whose endpoint is looked
   * up at request time (what the scheduler sets on a split plan's head). `next` wins when both are set.
   */
  nextTask?: string;
  /** onnxruntime threads: the task's CPU request in whole cores (at least 1, at most the host's). */
  threads: number;
  layers?: { from: number; to: number };
}

/** A Task's name: a DNS subdomain (lowercase alphanumerics, '-' and '.'). */
const TASK_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** A serve task whose configuration cannot be served: the message says which variable and why. */
export class ServeConfigError extends Error {
  override readonly name = "ServeConfigError";
}

/**
 * Reads a serve task's configuration from the task (its env as every runtime sees it: template env,
 * then Task env, then `EIAAS_*` facts). The service's exit threshold and the next stage come through
 * the environment so the same task runs unchanged under the `onnx` runtime and as the `eiaas-serve`
 * container (which reads the same variables).
 */
export function serveTaskConfig(task: TaskRunSpec): ServeTaskConfig {
  const env = taskEnvironment(task);
  const config: ServeTaskConfig = { port: 0, threads: 1 };
  if (env.EIAAS_PORT !== undefined) {
    const port = declaredPort(env);
    if (port === undefined) throw new ServeConfigError(`EIAAS_PORT: "${env.EIAAS_PORT}" is not a port (1-65535)`);
    config.port = port;
  }
  const threshold = env.EIAAS_EXIT_THRESHOLD;
  if (threshold !== undefined) {
    const t = Number(threshold);
    if (threshold.trim() === "" || !(t >= 0 && t <= 1)) throw new ServeConfigError(`EIAAS_EXIT_THRESHOLD: "${threshold}" is not a number between 0 and 1`);
    config.exitThreshold = t;
  }
  const next = env.EIAAS_NEXT_ENDPOINT;
  if (next !== undefined && next !== "") {
    try {
      nextStageUrl(next);
    } catch (err) {
      throw new ServeConfigError(`EIAAS_NEXT_ENDPOINT: ${(err as Error).message}`);
    }
    config.next = next;
  }
  const nextTask = env.EIAAS_NEXT_TASK;
  if (config.next === undefined && nextTask !== undefined && nextTask !== "") {
    if (nextTask.length > 253 || !TASK_NAME.test(nextTask)) throw new ServeConfigError(`EIAAS_NEXT_TASK: "${nextTask.slice(0, 100)}" is not a Task name`);
    config.nextTask = nextTask;
  }
  if (task.resources.cpu > 0) config.threads = Math.min(availableParallelism(), Math.max(1, Math.ceil(task.resources.cpu / 1000)));
  if (task.layers) config.layers = { ...task.layers };
  return config;
}
