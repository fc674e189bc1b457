import { z } from "zod";
import { API_VERSION } from "../constants.js";
import { condition, objectMeta, type Condition, type ObjectMeta } from "../meta.js";

/** The input schema of one kind: apiVersion/kind literals, metadata, spec, optional status. */
export function objectSchema<K extends string, S extends z.ZodType, T extends z.ZodType>(kind: K, spec: S, status: T) {
  return z.strictObject({
    apiVersion: z.literal(API_VERSION, { error: `must be ${API_VERSION}` }),
    kind: z.literal(kind, { error: `must be ${kind}` }),
    metadata: objectMeta,
    spec,
    status: status.optional(),
  });
}

/** Status fields every workload kind shares. */
export const baseStatusShape = {
  phase: z.string().optional(),
  conditions: z.array(condition).optional(),
  observedGeneration: z.number().int().optional(),
};

export interface BaseStatus {
  phase?: string;
  conditions?: Condition[];
  observedGeneration?: number;
}

/** A stored object as the server returns it. */
export interface ApiObject<Spec = unknown, Status = BaseStatus> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  status: Status;
}
