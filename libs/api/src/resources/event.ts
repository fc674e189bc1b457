import { z } from "zod";
import { API_VERSION } from "../constants.js";
import { objectMeta, type ObjectMeta } from "../meta.js";

export const involvedObject = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().optional(),
  uid: z.string().optional(),
});

/** The body of an Event (Kubernetes core/v1 Event shape: no spec or status). */
export const eventBody = z.strictObject({
  involvedObject,
  reason: z.string().min(1),
  message: z.string().default(""),
  type: z.enum(["Normal", "Warning"]).default("Normal"),
  count: z.number().int().min(1).default(1),
  firstTimestamp: z.string().optional(),
  lastTimestamp: z.string().optional(),
  source: z.strictObject({ component: z.string().optional(), host: z.string().optional() }).default({}),
});
export type EventBody = z.infer<typeof eventBody>;

export const eventObject = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `must be ${API_VERSION}` }),
  kind: z.literal("Event", { error: "must be Event" }),
  metadata: objectMeta,
  ...eventBody.shape,
});

export interface Event extends EventBody {
  apiVersion: string;
  kind: "Event";
  metadata: ObjectMeta;
}
