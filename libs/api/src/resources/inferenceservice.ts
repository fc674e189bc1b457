import { z } from "zod";
import { condition, labelSelector, nodeSelector, priorityValue, privacyBoundary, resourceRequest, taskTemplate, toleration } from "../meta.js";
import { baseStatusShape, objectSchema, type ApiObject } from "./object.js";

const nonneg = z.number().nonnegative();

export const inferenceArchitecture = z.enum(["auto", "device", "edge", "cloud", "edge-device", "cloud-device", "edge-cloud"]);
export type InferenceArchitecture = z.infer<typeof inferenceArchitecture>;
export type ConcreteArchitecture = Exclude<InferenceArchitecture, "auto">;

export const inferenceObjective = z.enum(["latency", "energy", "accuracy"]);
export type InferenceObjective = z.infer<typeof inferenceObjective>;

/**
 * Edge caching at the client's entry: answers of identical inputs (same shape, same float32 bytes)
 * are reused, LRU-bounded, each for `ttlSeconds` after it was computed.
 */
export const servingCache = z.strictObject({
  maxEntries: z.number().int().min(1).max(100_000).default(1000),
  // A millisecond at least (`.positive()` would put an exclusiveMinimum in the OpenAPI document).
  ttlSeconds: z.number().min(0.001).max(86_400).default(60),
});
export type ServingCache = z.infer<typeof servingCache>;

/**
 * Input filtering (frame differencing) at the client's entry: an input whose mean absolute
 * difference per element from its stream's last processed input is below `threshold` (in the
 * input's own units) reuses that input's answer.
 */
export const inputFilter = z.strictObject({
  threshold: z.number().nonnegative().max(1e6),
});
export type InputFilterSpec = z.infer<typeof inputFilter>;

export const inferenceServiceSpec = z.strictObject({
  /** Name of a Model in the same namespace. */
  model: z.string().min(1),
  clients: z.strictObject({
    selector: labelSelector,
    /** Request rate of each client; adds rps · Σ server-layer ms / 1000 to its server's load. */
    requestsPerSecond: nonneg.default(0),
  }),
  architecture: inferenceArchitecture.default("auto"),
  objective: inferenceObjective.default("latency"),
  slo: z
    .strictObject({
      latencyMs: nonneg.optional(),
      minAccuracy: z.number().min(0).max(1).optional(),
      maxDeviceEnergyMj: nonneg.optional(),
    })
    .default({}),
  privacy: z.strictObject({ rawDataBoundary: privacyBoundary.default("cloud") }).default({ rawDataBoundary: "cloud" }),
  /** Per task. */
  resources: resourceRequest.default({ cpu: 0, memoryMiB: 0, gpu: 0 }),
  /** For servers. */
  nodeSelector: nodeSelector.default({}),
  tolerations: z.array(toleration).default([]),
  priority: priorityValue.default(0),
  template: taskTemplate.default({}),
  caching: servingCache.optional(),
  inputFilter: inputFilter.optional(),
});
export type InferenceServiceSpec = z.infer<typeof inferenceServiceSpec>;
export type InferenceServiceSpecInput = z.input<typeof inferenceServiceSpec>;

export const predicted = z.strictObject({
  latencyMs: z.number(),
  deviceEnergyMj: z.number(),
  accuracy: z.number(),
  uplinkBytes: z.number(),
});
export type Predicted = z.infer<typeof predicted>;

export const clientPlan = z.strictObject({
  client: z.string(),
  architecture: inferenceArchitecture.exclude(["auto"]),
  split: z.number().int().nonnegative(),
  headNode: z.string().optional(),
  tailNode: z.string().optional(),
  variant: z.string(),
  exitAfterLayer: z.number().int().nonnegative(),
  predicted,
});
export type ClientPlan = z.infer<typeof clientPlan>;

export const endpoint = z.strictObject({
  node: z.string(),
  address: z.string().optional(),
  role: z.string(),
  task: z.string(),
  predicted: z.strictObject({ latencyMs: z.number() }).optional(),
});
export type Endpoint = z.infer<typeof endpoint>;

/**
 * What a client measured end to end with one plan option (the client's plan fields that decide
 * its latency), as the client path reports it (`POST .../inferenceservices/{name}/latency`). Kept
 * per option, not per plan revision: after a re-plan the planner still knows what the option it
 * left measured, so a measured-slow option is not chosen again on its prediction alone (no flapping).
 */
export const measuredClientLatency = z.strictObject({
  client: z.string(),
  architecture: inferenceArchitecture.exclude(["auto"]),
  split: z.number().int().nonnegative(),
  headNode: z.string().optional(),
  tailNode: z.string().optional(),
  variant: z.string(),
  exitAfterLayer: z.number().int().nonnegative(),
  /** Median end-to-end latency over `count` requests. */
  latencyMs: z.number().nonnegative(),
  count: z.number().int().min(1),
  /** What the plan predicted for this option when the figure was reported. */
  predictedMs: z.number().optional(),
  /** When it was last reported (RFC 3339); older than the scheduler's maximum age it is ignored. */
  observedTime: z.string(),
});
export type MeasuredClientLatency = z.infer<typeof measuredClientLatency>;

/** Most measured options a service keeps per client (the oldest go first). */
export const MEASURED_OPTIONS_PER_CLIENT = 4;

/** What a serving entry answered, counted since it started (a task's `status.serving`). */
export const servingCounts = z.strictObject({
  requests: z.number().int().nonnegative(),
  cacheHits: z.number().int().nonnegative(),
  cacheMisses: z.number().int().nonnegative(),
  filterSkips: z.number().int().nonnegative(),
});
export type ServingCounts = z.infer<typeof servingCounts>;

/** The service's entries' counts summed (current plan revision), with the shares reused. */
export const servingSummary = z.strictObject({
  ...servingCounts.shape,
  /** cacheHits / requests (0 with no requests). */
  cacheHitRate: z.number().min(0).max(1),
  /** filterSkips / requests (0 with no requests). */
  filterSkipRate: z.number().min(0).max(1),
});
export type ServingSummary = z.infer<typeof servingSummary>;

export const inferenceServiceStatus = z.strictObject({
  ...baseStatusShape,
  phase: z.enum(["Pending", "Scheduled", "Running", "Failed"]).optional(),
  conditions: z.array(condition).optional(),
  plan: z.strictObject({ clients: z.array(clientPlan) }).optional(),
  endpoints: z.array(endpoint).optional(),
  /** Which revision of the plan the Tasks labelled `eiaas.io/plan-revision` belong to (set by the scheduler). */
  planRevision: z.number().int().nonnegative().optional(),
  /** Clients' measured end-to-end latency, per plan option (see measuredClientLatency). */
  measured: z.array(measuredClientLatency).optional(),
  /** Requests the entries answered and how many were reused (spec.caching, spec.inputFilter). */
  serving: servingSummary.optional(),
});
export type InferenceServiceStatus = z.infer<typeof inferenceServiceStatus>;

export const inferenceServiceObject = objectSchema("InferenceService", inferenceServiceSpec, inferenceServiceStatus);
export type InferenceService = ApiObject<InferenceServiceSpec, InferenceServiceStatus>;

/** Whether a measured figure is of the option a client plan uses. */
export function sameOption(m: Omit<ClientPlan, "predicted">, p: Omit<ClientPlan, "predicted">): boolean {
  return (
    m.client === p.client &&
    m.architecture === p.architecture &&
    m.split === p.split &&
    (m.headNode ?? "") === (p.headNode ?? "") &&
    (m.tailNode ?? "") === (p.tailNode ?? "") &&
    m.variant === p.variant &&
    m.exitAfterLayer === p.exitAfterLayer
  );
}
