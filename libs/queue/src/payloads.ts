import { z } from "zod";
import { dnsLabel, dnsSubdomain, formatPath, taskSpec } from "@eiaas/api";

/** W3C trace context carried in job data, so the agent's spans join the scheduler's trace. */
export const traceContext = z.object({
  traceparent: z.string().optional(),
  tracestate: z.string().optional(),
});
export type TraceContext = z.infer<typeof traceContext>;

/**
 * A dispatched Task's spec: the API's {@link taskSpec}, bound — `nodeName` is the queue's node
 * (checked by the consumer). Unknown fields are dropped, not rejected, so that a newer scheduler
 * can add Task fields without breaking agents that are one version behind.
 */
export const taskJobSpec = z.object({ ...taskSpec.shape, nodeName: dnsSubdomain });
export type TaskJobSpec = z.infer<typeof taskJobSpec>;

/**
 * The job payload of a `node.<name>` queue: which attempt of which Task, its spec (what the agent
 * needs to run it without reading the API), its owner and the trace context. Parsed leniently, as
 * {@link taskJobSpec}.
 */
export const taskJobPayload = z.object({
  namespace: dnsLabel,
  name: dnsSubdomain,
  uid: z.string().min(1),
  attempt: z.number().int().nonnegative(),
  spec: taskJobSpec,
  owner: z.object({ kind: z.string().min(1), name: z.string().min(1), uid: z.string().optional() }).optional(),
  traceContext: traceContext.default({}),
});
export type TaskJobPayload = z.infer<typeof taskJobPayload>;
/** What a producer passes (defaults not yet applied). */
export type TaskJobPayloadInput = z.input<typeof taskJobPayload>;

/** Workload kinds the scheduler (re)plans. */
export const workloadKind = z.enum(["InferenceService", "TrainingJob"]);
export type WorkloadKind = z.infer<typeof workloadKind>;

/** A work item of the `schedule` queue: a workload to (re)plan. */
export const scheduleItem = z.object({
  kind: workloadKind,
  namespace: dnsLabel,
  name: dnsSubdomain,
  uid: z.string().min(1).optional(),
  /** Why it was enqueued (created, updated, deleted, node lost, ...): for logs only. */
  reason: z.string().optional(),
});
export type ScheduleItem = z.infer<typeof scheduleItem>;

/** A job payload that does not match its schema. The message names every bad field. */
export class InvalidPayloadError extends Error {
  override readonly name = "InvalidPayloadError";
  constructor(
    readonly queue: string,
    readonly jobId: string | undefined,
    readonly issues: Array<{ field: string; message: string }>,
  ) {
    super(`invalid ${queue} job payload${jobId ? ` (job ${jobId})` : ""}: ` + issues.map((i) => `${i.field || "(root)"}: ${i.message}`).join("; "));
  }
}

function parseWith<T>(schema: z.ZodType<T>, queue: string, data: unknown, jobId?: string): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message }));
  throw new InvalidPayloadError(queue, jobId, issues);
}

/** Validates a dispatch job's data; throws {@link InvalidPayloadError} when malformed. */
export function parseTaskJobPayload(data: unknown, jobId?: string): TaskJobPayload {
  return parseWith(taskJobPayload, "node", data, jobId);
}

/** Validates a schedule work item; throws {@link InvalidPayloadError} when malformed. */
export function parseScheduleItem(data: unknown, jobId?: string): ScheduleItem {
  return parseWith(scheduleItem, "schedule", data, jobId);
}

/**
 * The coalescing key of a schedule item: while one item per workload waits, enqueueing the same
 * workload again does not add a second one.
 */
export function scheduleItemKey(item: Pick<ScheduleItem, "kind" | "namespace" | "name">): string {
  return `${item.kind}.${item.namespace}.${item.name}`;
}
