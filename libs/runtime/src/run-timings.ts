// Reading a serving server's work times (decode, run, encode of each computed answer) back when its answers do not go through the agent: the
// docker runtime's containers and the kubernetes runtime's Pods run `eiaas-serve` on their own, so
// the runtime polls the server's `GET /v1/timings?after=N` and hands each new figure to the agent
// (`TaskHooks.recordSegmentTiming`, for ModelProfiles), as the onnx runtime does in its process.
import { MAX_MEASURED_MS } from "@eiaas/api";
import { fetchRunTimings } from "@eiaas/serving";
import type { TaskHooks, TaskRunSpec } from "./types.js";

/** How often a server's run times are read when the runtime's options do not say. */
export const DEFAULT_TIMINGS_POLL_MS = 2_000;

/** Where a task's server answers `/v1/timings`, and which chain layers its figures are of. */
export interface RunTimingsSource {
  host: string;
  port: number;
  /** The chain layers the server's segment runs (1-based, inclusive). */
  layers: { from: number; to: number };
}

/**
 * Every `periodMs` the new figures of the server's `/v1/timings`, each handed to
 * `hooks.recordSegmentTiming` with the task's name and layer range, until `gone` resolves (the
 * task ended or was stopped). A server that does not answer (not listening yet, gone, not
 * `eiaas-serve`) is asked again at the next period. Nothing without a listener.
 */
export async function relayRunTimings(task: TaskRunSpec, source: RunTimingsSource, hooks: TaskHooks, gone: Promise<unknown>, periodMs = DEFAULT_TIMINGS_POLL_MS): Promise<void> {
  const record = hooks.recordSegmentTiming;
  if (!record) return;
  const { layers } = source;
  let over = false;
  void gone.then(() => (over = true));
  let after = 0;
  const poll = async () => {
    const got = await fetchRunTimings(source.host, source.port, after, MAX_MEASURED_MS);
    if (!got) return;
    after = got.seq;
    for (const ms of got.workMs) {
      try {
        record({ task: { namespace: task.namespace, name: task.name }, fromLayer: layers.from, toLayer: layers.to, ms });
      } catch {
        // the agent's bookkeeping failing is no reason to stop serving
      }
    }
  };
  while (!over) {
    await Promise.race([new Promise((r) => setTimeout(r, periodMs).unref()), gone]);
    if (!over) await poll();
  }
}
