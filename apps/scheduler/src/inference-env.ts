import type { PlannedTask } from "@eiaas/scheduling";

/** The head's next stage: its tail's Task name (the serving runtime looks its endpoint up). */
export const NEXT_TASK_ENV = "EIAAS_NEXT_TASK";
export const EXIT_THRESHOLD_ENV = "EIAAS_EXIT_THRESHOLD";

/**
 * The env of each task of an InferenceService's plan, by planned task key:
 *
 * - a `head` gets `EIAAS_NEXT_TASK`, the name of the tail its client's plan forwards to (same
 *   revision, same chain, on the plan's tail node, serving that client). The name, not an address:
 *   the tail's endpoint is known only once it runs, and changes when it is retried on a new port,
 *   so the head's runtime resolves it at request time through the API (a short cache, refreshed
 *   when a connection fails). A tail moved to another node is a new plan revision, whose new head
 *   names the new tail; the old revision keeps serving until the new one runs.
 * - a task whose chain ends at an early exit (`exitAfterLayer` below its model's or variant's layer count) and
 *   runs the exit head gets `EIAAS_EXIT_THRESHOLD` "0": the planner's exit chain always answers at
 *   its head (its accuracy is the exit's `accuracy`), so the data plane does the same. A threshold
 *   in the service's `spec.template.env` is left to win (the Task's env would override it).
 */
export function inferenceEnv(
  tasks: readonly PlannedTask[],
  clients: ReadonlyArray<{ client: string; headNode?: string; tailNode?: string }>,
  taskNameOf: (p: PlannedTask) => string,
  opts: {
    /** Layers of the model ("base") or of a variant of it, by name. */
    layerCount: (variant: string) => number | undefined;
    templateEnv?: Record<string, string> | undefined;
  },
): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const add = (key: string, env: Record<string, string>) => out.set(key, { ...out.get(key), ...env });
  for (const head of tasks) {
    if (head.role !== "head") continue;
    const tail = tasks.find((t) => {
      if (t.role !== "tail" || t.variant !== head.variant || t.exitAfterLayer !== head.exitAfterLayer) return false;
      return head.clients.some((c) => t.clients.includes(c) && clients.find((p) => p.client === c)?.tailNode === t.node);
    });
    if (tail) add(head.key, { [NEXT_TASK_ENV]: taskNameOf(tail) });
  }
  if (opts.templateEnv?.[EXIT_THRESHOLD_ENV] === undefined) {
    for (const t of tasks) {
      const exitAt = t.exitAfterLayer;
      const layers = opts.layerCount(t.variant ?? "base");
      if (exitAt !== undefined && layers !== undefined && exitAt < layers && t.layers && t.layers.to > exitAt) add(t.key, { [EXIT_THRESHOLD_ENV]: "0" });
    }
  }
  return out;
}
