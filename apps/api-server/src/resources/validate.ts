import { dnsSubdomain, issuesToCauses, kindInfo, type KindInfo } from "@eiaas/api";
import type { NewObject } from "@eiaas/db";
import { ApiError, invalid, invalidFromZod } from "../http/errors.js";

export interface ValidatedObject extends NewObject {
  apiVersion: string;
  kind: string;
  metadata: NewObject["metadata"] & { uid?: string; resourceVersion?: string; generateName?: string };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Validates a whole object against its kind's schema (strict: unknown fields are 422 with their
 * path) and against the request URL (namespace and name must agree).
 */
export function validateObject(
  kind: KindInfo,
  body: unknown,
  url: { namespace?: string; name?: string },
): ValidatedObject {
  if (!isPlainObject(body)) throw new ApiError("BadRequest", `the request body must be a JSON object (a ${kind.kind})`);
  const name = isPlainObject(body.metadata) && typeof body.metadata.name === "string" ? body.metadata.name : url.name;
  const parsed = kind.schema.safeParse(body);
  if (!parsed.success) throw invalidFromZod(kind.kind, name, parsed.error);
  const obj = parsed.data as ValidatedObject & { metadata: ValidatedObject["metadata"] & { generateName?: string } };
  const meta = obj.metadata;
  if (kind.namespaced) {
    if (meta.namespace !== undefined && url.namespace !== undefined && meta.namespace !== url.namespace) {
      throw new ApiError("BadRequest", `the namespace of the provided object (${meta.namespace}) does not match the namespace sent on the request (${url.namespace})`);
    }
    meta.namespace = url.namespace ?? meta.namespace;
    if (!meta.namespace) throw invalid(kind.kind, name, [{ field: "metadata.namespace", message: "Required value" }]);
  } else if (meta.namespace) {
    throw invalid(kind.kind, name, [{ field: "metadata.namespace", message: `${kind.kind} is cluster-scoped: namespace must be empty` }]);
  }
  if (url.name !== undefined && meta.name !== undefined && meta.name !== url.name) {
    throw new ApiError("BadRequest", `the name of the object (${meta.name}) does not match the name on the URL (${url.name})`);
  }
  if (!meta.name) {
    if (url.name) meta.name = url.name;
    else if (meta.generateName) {
      meta.name = `${meta.generateName}${Math.random().toString(36).slice(2, 7)}`;
      // The prefix was only length-checked: the name it makes follows the same rules as any other.
      const generated = dnsSubdomain.safeParse(meta.name);
      if (!generated.success) throw invalid(kind.kind, undefined, issuesToCauses(generated.error, "metadata.generateName"));
    }
    else throw invalid(kind.kind, undefined, [{ field: "metadata.name", message: "name or generateName is required" }]);
  }
  if (kind.kind === "Tenant" && meta.name.length > 63) {
    throw invalid(kind.kind, meta.name, [{ field: "metadata.name", message: "a Tenant names a namespace: no more than 63 characters" }]);
  }
  return obj;
}

/** Validates a status body with the kind's status schema. */
export function validateStatus(kind: KindInfo, status: unknown, name: string): unknown {
  if (!kind.status) throw new ApiError("NotFound", `${kind.plural} has no status subresource`);
  const parsed = kind.status.safeParse(status ?? {});
  if (!parsed.success) throw invalidFromZod(kind.kind, name, parsed.error, "status");
  return parsed.data;
}

const INT64_MAX = 9223372036854775807n;

/**
 * Whether `v` is a non-negative decimal that fits a signed 64-bit integer: the form of a
 * resourceVersion (Postgres bigint) and of `limit` (Kubernetes int64). Anything else from a client
 * must be refused before it reaches a query.
 */
export function isNonNegativeInt64(v: unknown): v is string {
  return typeof v === "string" && /^\d{1,19}$/.test(v) && BigInt(v) <= INT64_MAX;
}

export const TENANT = kindInfo("Tenant");
export const TASK = kindInfo("Task");
