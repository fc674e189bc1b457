import { API_PREFIX, retry, TASK_REPORT_SUPERSEDED } from "@eiaas/api";
import { ApiRequestError, retryAfterMs, type EiaasClient } from "@eiaas/client";
import type { Logger } from "@eiaas/telemetry";

/** The task attempt a report is about. */
export interface ReportTarget {
  namespace: string;
  name: string;
  attempt: number;
}

/**
 * How a report ended:
 * - `applied`: the API holds it (or held it already: a repeat); `object` is the task as written;
 * - `gone`: the task no longer exists for this agent (404: deleted, or bound elsewhere; 403);
 * - `superseded`: the task moved past it (409 with the superseded cause: a later attempt, or the
 *   attempt already finished — failed by the control plane, say); nothing of it was applied;
 * - `rejected`: the API refuses the report itself (400, 413, 422): another try cannot succeed;
 * - `abandoned`: the caller gave up first (the run was dropped, the agent is stopping).
 */
export type ReportOutcome = { outcome: "applied"; object: { metadata: { resourceVersion: string } } } | { outcome: "gone" | "superseded" | "rejected"; message: string } | { outcome: "abandoned" };

export interface ReporterOptions {
  /** Ceiling of the first pause after a failed try, in ms; doubled per try (full jitter below it). @defaultValue 200 */
  initialBackoffMs?: number;
  /** Longest pause between tries, in ms. @defaultValue 10000 */
  maxBackoffMs?: number;
}

/** Whether a 409 says the task moved past the report (rather than a write conflict worth a retry). */
export function isSuperseded(err: unknown): boolean {
  return err instanceof ApiRequestError && err.code === 409 && err.causes.some((c) => c.reason === TASK_REPORT_SUPERSEDED);
}

/**
 * Delivers task status reports (`PUT .../tasks/{name}/status`). A report is retried until the API
 * answers it — an outage of any length loses none — with exponential backoff, jittered so that a
 * fleet coming back does not retry in step, and capped (10 s by default), a 429/503's Retry-After
 * waited at least (up to the cap). Only the API's answer ends it: applied, or the task is no longer this agent's (gone, superseded), or the report itself
 * is refused; or the caller's signal (the run was dropped, the agent stops). Reports are idempotent
 * and ordered by the API (attempt, then phase), so a repeat changes nothing.
 */
export class Reporter {
  constructor(
    private readonly client: () => EiaasClient,
    private readonly logger: Logger,
    private readonly options: ReporterOptions = {},
  ) {}

  async send(t: ReportTarget, status: Record<string, unknown>, signal: AbortSignal): Promise<ReportOutcome> {
    const task = `${t.namespace}/${t.name}`;
    const phase = String(status.phase ?? "status");
    if (signal.aborted) return { outcome: "abandoned" };
    let tries = 1;
    /** The API's answer that ended the retries, when it was one (not the signal). */
    let final: ReportOutcome | undefined;
    try {
      const object = await retry(
        () =>
          this.client().request<{ metadata: { resourceVersion: string } }>({
            method: "PUT",
            path: `${API_PREFIX}/namespaces/${t.namespace}/tasks/${t.name}/status`,
            body: { apiVersion: "eiaas.io/v1alpha1", kind: "Task", metadata: { name: t.name }, status: { attempt: t.attempt, ...status } },
            signal,
          }),
        {
          initialMs: this.options.initialBackoffMs ?? 200,
          maxMs: this.options.maxBackoffMs ?? 10_000,
          signal,
          retryable: (err) => !(final = finalAnswer(err)),
          minDelayMs: retryAfterMs,
          onRetry: (err, r) => {
            // Once per report at warn: an outage is worth a line, not one per retry.
            if (r.attempt === 0) this.logger.warn({ task, phase, err }, "status report failed; retrying until the API takes it");
            else this.logger.debug({ task, phase, err, attempt: r.attempt }, "status report retry failed");
            tries = r.attempt + 2;
          },
        },
      );
      if (tries > 1) this.logger.info({ task, phase, tries }, "status report delivered");
      return { outcome: "applied", object };
    } catch (err) {
      if (signal.aborted) return { outcome: "abandoned" };
      if (final) return final;
      throw err;
    }
  }
}

/** The answers that end a report: anything else (network, 5xx, 429, 401, a write conflict) is retried. */
function finalAnswer(err: unknown): ReportOutcome | undefined {
  if (!(err instanceof ApiRequestError)) return undefined;
  if (err.code === 404 || err.code === 403) return { outcome: "gone", message: err.message };
  if (isSuperseded(err)) return { outcome: "superseded", message: err.message };
  if (err.code === 400 || err.code === 413 || err.code === 422) return { outcome: "rejected", message: err.message };
  return undefined;
}
