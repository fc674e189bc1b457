import { z } from "zod";
import { dnsSubdomain } from "../meta.js";
import { baseStatusShape, objectSchema, type ApiObject } from "./object.js";

/** Most segments one ModelProfile keeps: the oldest go first (bounded object size). */
export const MODEL_PROFILE_MAX_SEGMENTS = 64;
/** Most timings in one report of an agent (`POST .../edgenodes/{node}/segment-timings`). */
export const SEGMENT_TIMING_REPORT_MAX = 256;
/** A measured median above this (10 minutes) is no layer's time: refused. */
export const MAX_MEASURED_MS = 600_000;
/**
 * How long a measured figure counts by default (segment timings, clients' end-to-end latency): a
 * node's speed drifts with its load, temperature and software, so an old figure is worse than the
 * estimate. The API drops older figures when it writes, the planner ignores them.
 */
export const MEASUREMENT_MAX_AGE_MS = 30 * 60_000;
/** Most samples one figure may claim (a counter, not a trust level). */
const MAX_COUNT = 1_000_000_000;

const layer = z.number().int().min(1).max(100_000);
const measuredMs = z.number().nonnegative().max(MAX_MEASURED_MS);
const count = z.number().int().min(1).max(MAX_COUNT);

/**
 * One measured figure: the median time a serving task on the profile's node took for chain layers
 * `fromLayer..toLayer` (1-based, inclusive; the exit head is layer `exitAfterLayer + 1` of a chain
 * with an exit) of the model's `variant`, over `count` requests.
 */
export const measuredSegment = z.strictObject({
  /** "base" or the variant's name. */
  variant: z.string().min(1).max(253),
  /** The chain's exit: base layers run before its head (the model's layer count when it has none). */
  exitAfterLayer: z.number().int().min(0).max(100_000),
  fromLayer: layer,
  toLayer: layer,
  medianMs: measuredMs,
  count,
  /** When the agent last reported it (RFC 3339): figures older than the planner's maximum age are ignored. */
  observedTime: z.string().max(64),
});
export type MeasuredSegment = z.infer<typeof measuredSegment>;

/**
 * Which model's timings on which node a ModelProfile holds. Written by the API server from agents'
 * reports (the agent names a task; model, node and variant come from the task), never by tenants.
 */
export const modelProfileSpec = z.strictObject({
  /** Name of the Model in the same namespace. */
  model: dnsSubdomain,
  /** The EdgeNode the timings were measured on. */
  nodeName: dnsSubdomain,
});
export type ModelProfileSpec = z.infer<typeof modelProfileSpec>;

export const modelProfileStatus = z.strictObject({
  ...baseStatusShape,
  /** The Model's metadata.generation the segments were measured for: the planner ignores other generations. */
  modelGeneration: z.number().int().nonnegative().optional(),
  segments: z.array(measuredSegment).max(MODEL_PROFILE_MAX_SEGMENTS).optional(),
});
export type ModelProfileStatus = z.infer<typeof modelProfileStatus>;

export const modelProfileObject = objectSchema("ModelProfile", modelProfileSpec, modelProfileStatus);
export type ModelProfile = ApiObject<ModelProfileSpec, ModelProfileStatus>;

/**
 * One timing an agent reports: a task it runs and the median of what that task measured for
 * layers `fromLayer..toLayer` over `count` requests in the agent's window.
 */
export const segmentTiming = z.strictObject({
  namespace: z.string().min(1).max(63),
  task: z.string().min(1).max(253),
  fromLayer: layer,
  toLayer: layer,
  medianMs: measuredMs,
  count,
});
export type SegmentTiming = z.infer<typeof segmentTiming>;

/** Body of `POST /apis/eiaas.io/v1alpha1/edgenodes/{node}/segment-timings`. */
export const segmentTimingReport = z.strictObject({
  timings: z.array(segmentTiming).min(1).max(SEGMENT_TIMING_REPORT_MAX),
});
export type SegmentTimingReport = z.infer<typeof segmentTimingReport>;

/**
 * Body of `POST .../namespaces/{ns}/inferenceservices/{name}/latency`: what a client measured end
 * to end (median over `count` requests) with the service's current plan. `planRevision`, when
 * given, must be the service's current one (a figure of an older plan is refused, 409).
 */
export const clientLatencyReport = z.strictObject({
  client: dnsSubdomain,
  latencyMs: measuredMs,
  count,
  planRevision: z.number().int().min(1).max(2_147_483_647).optional(),
});
export type ClientLatencyReport = z.infer<typeof clientLatencyReport>;

/**
 * The name of the ModelProfile of a model on a node: `<model>.<node>` when that is a valid name
 * (≤ 253 characters), else both cut and a digest of the pair appended (FNV-1a: this package uses
 * no node modules), so two pairs never share a name by truncation alone.
 */
export function modelProfileName(model: string, node: string): string {
  const joined = `${model}.${node}`;
  if (joined.length <= 253) return joined;
  let h = 0x811c9dc5;
  for (let i = 0; i < joined.length; i++) {
    h ^= joined.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const digest = h.toString(16).padStart(8, "0");
  return `${model.slice(0, 120).replace(/[-.]+$/, "")}.${node.slice(0, 120).replace(/[-.]+$/, "")}-${digest}`;
}
