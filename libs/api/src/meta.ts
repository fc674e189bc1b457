import { z } from "zod";

/** RFC 1123 subdomain, as Kubernetes object names: lowercase alphanumerics, '-' and '.', ≤ 253. */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RFC 1123 label, as Kubernetes namespace names: ≤ 63, no dots. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const dnsSubdomain = z
  .string()
  .min(1, "must not be empty")
  .max(253, "must be no more than 253 characters")
  .regex(DNS1123_SUBDOMAIN, "must be a lowercase RFC 1123 subdomain: lowercase alphanumerics, '-' or '.', starting and ending with an alphanumeric");

export const dnsLabel = z
  .string()
  .min(1, "must not be empty")
  .max(63, "must be no more than 63 characters")
  .regex(DNS1123_LABEL, "must be a lowercase RFC 1123 label: lowercase alphanumerics or '-', starting and ending with an alphanumeric");

/** A qualified label/annotation key: optional DNS prefix + '/' + name (≤ 63). */
export const qualifiedName = z.string().superRefine((key, ctx) => {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    ctx.addIssue({ code: "custom", message: `key prefix "${prefix}" must be a DNS subdomain` });
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    ctx.addIssue({ code: "custom", message: `key "${key}" must be a qualified name (≤ 63 alphanumerics, '-', '_' or '.')` });
  }
});

export const labelValue = z.string().max(63, "must be no more than 63 characters").regex(LABEL_VALUE, "must be empty or alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric");

export const labels = z.record(qualifiedName, labelValue);

const ASCII = /^[\x00-\x7f]*$/;

/** Bytes of `s` in UTF-8 (no Buffer: this package runs anywhere). */
export function utf8Length(s: string): number {
  // Native, ~20x faster than the loop over a few MB of ASCII (what nearly every annotation is).
  if (ASCII.test(s)) return s.length;
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A surrogate half is 2 of a pair's 4 bytes; 0x80-0x7FF take 2, the rest of the BMP 3.
    if (c >= 0x800) n += c >= 0xd800 && c <= 0xdfff ? 1 : 2;
    else if (c >= 0x80) n += 1;
  }
  return n;
}

/** Most bytes of all annotations of one object together (keys and values), as Kubernetes. */
export const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES = 256 * 1024;

/**
 * Annotations: qualified keys, string values, at most 256 KiB in all (Kubernetes'
 * `TotalAnnotationSizeLimitB`): annotations are what a client may stuff with anything, and every
 * API server's watch cache holds every object.
 */
export const annotations = z.record(qualifiedName, z.string()).superRefine((value, ctx) => {
  let total = 0;
  for (const [k, v] of Object.entries(value)) total += utf8Length(k) + utf8Length(v);
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES) {
    ctx.addIssue({ code: "custom", message: `Too long: must have at most ${TOTAL_ANNOTATION_SIZE_LIMIT_BYTES} bytes` });
  }
});

/**
 * How server-side apply merges a list (OpenAPI `x-kubernetes-list-type`, read by the API server's
 * apply/ and by clients): a `set` of scalars merges by value, a `map` of objects by its key
 * fields; a list without it is atomic (replaced whole), as for CRDs.
 */
export const LIST_SET = { "x-kubernetes-list-type": "set" } as const;
export function listMap(...keys: string[]): Record<string, unknown> {
  return { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys };
}

export const ownerReference = z.strictObject({
  apiVersion: z.string(),
  kind: z.string(),
  name: z.string(),
  uid: z.string(),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});
export type OwnerReference = z.infer<typeof ownerReference>;

/**
 * Object metadata as clients send it. Server-owned fields (uid, resourceVersion, generation,
 * timestamps) are accepted so a `get -o yaml` can be re-applied, and are overwritten by the server.
 */
export const objectMeta = z.strictObject({
  name: dnsSubdomain.optional(),
  generateName: z.string().max(200).optional(),
  namespace: dnsLabel.optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  labels: labels.optional(),
  annotations: annotations.optional(),
  creationTimestamp: z.string().nullable().optional(),
  deletionTimestamp: z.string().nullable().optional(),
  ownerReferences: z.array(ownerReference).meta(listMap("uid")).optional(),
  finalizers: z.array(z.string()).meta(LIST_SET).optional(),
  // Accepted so that an object as read can be sent back (client-node's replace does); the server
  // keeps its own (see the API server's apply/).
  managedFields: z.array(z.record(z.string(), z.unknown())).optional(),
});
export type ObjectMetaInput = z.infer<typeof objectMeta>;

/** Metadata as the server returns it. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp: string;
  deletionTimestamp?: string;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  /** Server-side apply's field ownership (kept by the API server; what a client sends is ignored). */
  managedFields?: ManagedFieldsEntry[];
}

/** One manager's fields (`metadata.managedFields[]`), as Kubernetes' ManagedFieldsEntry. */
export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

export const conditionStatus = z.enum(["True", "False", "Unknown"]);
export const condition = z.strictObject({
  type: z.string().min(1),
  status: conditionStatus,
  reason: z.string().default(""),
  message: z.string().default(""),
  lastTransitionTime: z.string().optional(),
  observedGeneration: z.number().int().optional(),
});
export type Condition = z.infer<typeof condition>;

export const labelSelectorRequirement = z.strictObject({
  key: qualifiedName,
  operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
  values: z.array(z.string()).optional(),
});
/** A Kubernetes LabelSelector. An empty selector matches everything. */
export const labelSelector = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(labelSelectorRequirement).optional(),
});
export type LabelSelector = z.infer<typeof labelSelector>;

export const taintEffect = z.enum(["NoSchedule", "NoExecute"]);
export const taint = z.strictObject({
  key: qualifiedName,
  value: z.string().optional(),
  effect: taintEffect,
  timeAdded: z.string().optional(),
});
export type Taint = z.infer<typeof taint>;

export const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(["Equal", "Exists"]).default("Equal"),
  value: z.string().optional(),
  effect: taintEffect.optional(),
  tolerationSeconds: z.number().int().nonnegative().optional(),
});
export type Toleration = z.infer<typeof toleration>;

/**
 * A workload's scheduling priority: a 32-bit integer, as Kubernetes' PriorityClass value
 * (negative ones allowed). Admission caps it at the tenant's maxPriority.
 */
export const priorityValue = z.number().int().min(-2147483648).max(2147483647);

export const resourceRequest = z.strictObject({
  cpu: z.number().nonnegative().default(0).describe("millicores"),
  memoryMiB: z.number().nonnegative().default(0),
  gpu: z.number().int().nonnegative().default(0),
});
export type ResourceRequest = z.infer<typeof resourceRequest>;

export const taskTemplate = z.strictObject({
  image: z.string().optional(),
  command: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
});
export type TaskTemplate = z.infer<typeof taskTemplate>;

export const nodeSelector = z.record(z.string(), z.string());
export const privacyBoundary = z.enum(["device", "edge", "cloud"]);
export type PrivacyBoundary = z.infer<typeof privacyBoundary>;
