import type { TaskRunSpec } from "./types.js";

/**
 * The environment a task runs with, for every runtime: its template's env, then the Task's own env
 * (which wins), then the `EIAAS_*` variables describing the task (which win over both, so a task
 * cannot be confused about who it is).
 */
export function taskEnvironment(task: TaskRunSpec): Record<string, string> {
  const env: Record<string, string> = { ...(task.template.env ?? {}), ...task.env };
  env.EIAAS_TASK_NAMESPACE = task.namespace;
  env.EIAAS_TASK_NAME = task.name;
  env.EIAAS_TASK_UID = task.uid;
  env.EIAAS_TASK_ATTEMPT = String(task.attempt);
  env.EIAAS_TASK_ROLE = task.role;
  env.EIAAS_NODE_NAME = task.nodeName;
  if (task.layers) {
    env.EIAAS_LAYERS_FROM = String(task.layers.from);
    env.EIAAS_LAYERS_TO = String(task.layers.to);
  }
  return env;
}

/** The port a task declared it serves on (`EIAAS_PORT` in its env), if any. */
export function declaredPort(env: Record<string, string>): number | undefined {
  const raw = env.EIAAS_PORT;
  if (raw === undefined) return undefined;
  const port = Number(raw);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

/** `host:port` when the task declared a port. */
export function endpointFor(host: string | undefined, env: Record<string, string>): string | undefined {
  const port = declaredPort(env);
  return host && port !== undefined ? `${host}:${port}` : undefined;
}
