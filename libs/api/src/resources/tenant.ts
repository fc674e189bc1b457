import { z } from "zod";
import { baseStatusShape, objectSchema, type ApiObject } from "./object.js";

const nonneg = z.number().nonnegative();

export const tenantQuota = z.strictObject({
  cpu: nonneg.optional(),
  memoryMiB: nonneg.optional(),
  gpu: nonneg.optional(),
  tasks: z.number().int().nonnegative().optional(),
});
export type TenantQuota = z.infer<typeof tenantQuota>;

export const tenantSpec = z.strictObject({
  /** Hard limits; an absent field is unlimited. */
  quota: tenantQuota.optional(),
  /** Fair-share weight. Default 1. */
  weight: z.number().positive().default(1),
  /** Highest priority a workload of this tenant may ask for. */
  maxPriority: z.number().int().optional(),
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
