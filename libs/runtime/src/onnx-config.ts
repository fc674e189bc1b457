import { availableParallelism } from "node:os";
import { SERVING_REUSE_ENV } from "@eiaas/api";
import { nextStageUrl, type InputFilterOptions, type ResultCacheOptions } from "@eiaas/serving";
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
  /** `EIAAS_CACHE_MAX_ENTRIES` and `EIAAS_CACHE_TTL_SECONDS`: the service's `spec.caching`. */
  caching?: Omit<ResultCacheOptions, "now">;
  /** `EIAAS_INPUT_FILTER_THRESHOLD`: the service's `spec.inputFilter`. */
  inputFilter?: InputFilterOptions;
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
  const number = (name: string, ok: (n: number) => boolean, what: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw.trim() === "" || !ok(n)) throw new ServeConfigError(`${name}: "${raw}" is not ${what}`);
    return n;
  };
  const maxEntries = number(SERVING_REUSE_ENV.cacheMaxEntries, (n) => Number.isSafeInteger(n) && n >= 1 && n <= 100_000, "an integer between 1 and 100000");
  const ttlSeconds = number(SERVING_REUSE_ENV.cacheTtlSeconds, (n) => n > 0 && n <= 86_400, "a number of seconds in (0, 86400]");
  if ((maxEntries === undefined) !== (ttlSeconds === undefined)) {
    throw new ServeConfigError(`caching needs both ${SERVING_REUSE_ENV.cacheMaxEntries} and ${SERVING_REUSE_ENV.cacheTtlSeconds}`);
  }
  if (maxEntries !== undefined) config.caching = { maxEntries, ttlSeconds: ttlSeconds! };
  const filterThreshold = number(SERVING_REUSE_ENV.inputFilterThreshold, (n) => n >= 0 && n <= 1e6, "a number between 0 and 1000000");
  if (filterThreshold !== undefined) config.inputFilter = { threshold: filterThreshold };
  const nextTask = env.EIAAS_NEXT_TASK;
  if (config.next === undefined && nextTask !== undefined && nextTask !== "") {
    if (nextTask.length > 253 || !TASK_NAME.test(nextTask)) throw new ServeConfigError(`EIAAS_NEXT_TASK: "${nextTask.slice(0, 100)}" is not a Task name`);
    config.nextTask = nextTask;
  }
  if (task.resources.cpu > 0) config.threads = Math.min(availableParallelism(), Math.max(1, Math.ceil(task.resources.cpu / 1000)));
  if (task.layers) config.layers = { ...task.layers };
  return config;
}
