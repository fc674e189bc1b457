import { z } from "zod";
import { priorityValue } from "../meta.js";
import { baseStatusShape, objectSchema, type ApiObject } from "./object.js";

const nonneg = z.number().nonnegative();
const count = z.number().int().nonnegative();

/**
 * The kinds a tenant creates, whose number per tenant an object-count quota bounds (Kubernetes'
 * `count/<resource>` in a ResourceQuota): Tasks and Events are the control plane's, bounded by
 * the workloads that own them and by the event TTL.
 */
export const COUNTED_RESOURCES = ["models", "inferenceservices", "trainingjobs"] as const;
export type CountedResource = (typeof COUNTED_RESOURCES)[number];
/** The quota key of a counted resource: `count/models`. */
export type CountQuotaKey = `count/${CountedResource}`;
export const countQuotaKey = (resource: CountedResource): CountQuotaKey => `count/${resource}`;

export const tenantQuota = z.strictObject({
  cpu: nonneg.optional(),
  memoryMiB: nonneg.optional(),
  gpu: nonneg.optional(),
  tasks: count.optional(),
  "count/models": count.optional(),
  "count/inferenceservices": count.optional(),
  "count/trainingjobs": count.optional(),
});
export type TenantQuota = z.infer<typeof tenantQuota>;

export const tenantSpec = z.strictObject({
  /** Hard limits; an absent field is unlimited (object counts: the server's default). */
  quota: tenantQuota.optional(),
  /** Fair-share weight. Default 1. */
  weight: z.number().positive().default(1),
  /** Highest priority a workload of this tenant may ask for; absent: the server's default (0). */
  maxPriority: priorityValue.optional(),
});
export type TenantSpec = z.infer<typeof tenantSpec>;

export const tenantUsage = z.strictObject({
  cpu: nonneg.default(0),
  memoryMiB: nonneg.default(0),
  gpu: nonneg.default(0),
  tasks: z.number().int().nonnegative().default(0),
});
export type TenantUsage = z.infer<typeof tenantUsage>;

export const tenantStatus = z.strictObject({
  ...baseStatusShape,
  phase: z.enum(["Active", "Terminating"]).optional(),
  usage: tenantUsage.optional(),
  dominantShare: nonneg.optional(),
});
export type TenantStatus = z.infer<typeof tenantStatus>;

export const tenantObject = objectSchema("Tenant", tenantSpec.default({ weight: 1 }), tenantStatus);
export type Tenant = ApiObject<TenantSpec, TenantStatus>;
