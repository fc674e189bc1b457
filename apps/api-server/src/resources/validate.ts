import { dnsSubdomain, formatPath, issuesToCauses, kindInfo, type KindInfo } from "@eiaas/api";
import type { z } from "zod";
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
 * What a write does with fields its kind does not have (the `fieldValidation` query parameter, as
 * for CRDs): `Strict` refuses them (422 with their paths), `Warn` drops them and says so in
 * `Warning` headers, `Ignore` drops them silently.
 */
export type FieldValidation = "Strict" | "Warn" | "Ignore";

/** How unknown fields are treated, and where Warn's warnings go. */
export interface UnknownFields {
  mode: FieldValidation;
  warnings?: string[];
}

/**
 * Parses `body` with `schema`; outside Strict, unknown fields are removed where the schema
 * reports them and the body parsed again (a field nested in an unknown one is reported only once
 * its parent parses, so a few rounds), each named in a warning under Warn.
 */
function parseWithUnknownFields(schema: z.ZodType, body: Record<string, unknown>, unknown: UnknownFields) {
  let input: Record<string, unknown> = body;
  for (let round = 0; ; round++) {
    const parsed = schema.safeParse(input);
    if (parsed.success || unknown.mode === "Strict" || round === 8) return parsed;
    const issues = parsed.error.issues.filter((i) => i.code === "unrecognized_keys");
    if (issues.length === 0) return parsed;
    if (input === body) input = structuredClone(body);
    for (const issue of issues) {
      let at: unknown = input;
      for (const p of issue.path) at = (at as Record<PropertyKey, unknown> | undefined)?.[p as string];
      if (!isPlainObject(at)) continue;
      for (const key of (issue as { keys: string[] }).keys) {
        delete at[key];
        if (unknown.mode === "Warn") unknown.warnings?.push(`unknown field "${formatPath([...(issue.path as PropertyKey[]), key])}"`);
      }
    }
  }
}

/**
 * Validates a whole object against its kind's schema (unknown fields as `unknown` says; by
 * default Strict: 422 with their paths) and against the request URL (namespace and name must agree).
 */
export function validateObject(kind: KindInfo, body: unknown, url: { namespace?: string; name?: string }, unknown: UnknownFields = { mode: "Strict" }): ValidatedObject {
  if (!isPlainObject(body)) throw new ApiError("BadRequest", `the request body must be a JSON object (a ${kind.kind})`);
  const name = isPlainObject(body.metadata) && typeof body.metadata.name === "string" ? body.metadata.name : url.name;
  const parsed = parseWithUnknownFields(kind.schema, body, unknown);
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
    } else throw invalid(kind.kind, undefined, [{ field: "metadata.name", message: "name or generateName is required" }]);
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
