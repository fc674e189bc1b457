// Server-side apply and field ownership for the registry (ResourceService): which part of an
// object managers own, the kinds' shapes, the managedFields a write carries, and the 409 of a
// conflicting apply. The set logic itself is apply/ (pure).
import { isDeepStrictEqual } from "node:util";
import { API_VERSION, KINDS, LAST_APPLIED_ANNOTATION, type KindInfo, type ManagedFieldsEntry, type StatusCause } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { FieldSet } from "../apply/fieldset.js";
import type { ApplyConflict } from "../apply/managed-fields.js";
import { recordUpdate } from "../apply/managed-fields.js";
import { toFieldSet, valueAt } from "../apply/merge.js";
import { LEAF, shapeOf, type Shape } from "../apply/shape.js";
import { ApiError, invalid } from "../http/errors.js";
import { buildOpenApiV3, schemaName } from "../openapi.js";

/** Metadata fields a manager can own (the rest is the server's, or identifies the object). */
const OWNED_METADATA = ["labels", "annotations", "ownerReferences", "finalizers"] as const;

/** Longest `fieldManager` (kube-apiserver's limit). */
export const MAX_FIELD_MANAGER_LENGTH = 128;

let shapes: Map<string, Shape> | undefined;

/** The shape of `kind`'s objects, from the OpenAPI document clients read (computed once). */
export function shapeOfKind(kind: KindInfo): Shape {
  if (!shapes) {
    const doc = buildOpenApiV3();
    const components = doc.components.schemas as Record<string, Record<string, unknown>>;
    shapes = new Map(KINDS.map((k) => [k.kind, shapeOf(components[schemaName(k.kind)], components)]));
  }
  return shapes.get(kind.kind) ?? LEAF;
}

/**
 * The part of `obj` managers own: the metadata of {@link OWNED_METADATA} and everything but
 * apiVersion, kind, metadata and status (which is the /status subresource's, not the object's).
 */
export function ownedPart(obj: Record<string, any>): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata, status: _s, ...rest } = obj;
  const meta: Record<string, unknown> = {};
  for (const f of OWNED_METADATA) if (metadata?.[f] !== undefined && metadata[f] !== null) meta[f] = metadata[f];
  return Object.keys(meta).length > 0 ? { metadata: meta, ...rest } : rest;
}

/**
 * The `fieldManager` of a write: the parameter, else (not for apply, which requires it) the
 * User-Agent's product token, as kube-apiserver derives it. 422 on a bad one.
 */
export function fieldManagerOf(query: unknown, userAgent: string | undefined, apply: boolean): string {
  if (query === undefined || query === "") {
    if (apply)
      throw new ApiError("Invalid", "PatchOptions is invalid: fieldManager: Required value: is required for apply patch", {
        kind: "PatchOptions",
        causes: [{ field: "fieldManager", reason: "FieldValueRequired", message: "Required value: is required for apply patch" }],
      });
    const product = (userAgent ?? "")
      .split("/")[0]!
      .replace(/[^\x21-\x7e]/g, "")
      .slice(0, MAX_FIELD_MANAGER_LENGTH);
    return product || "unknown";
  }
  if (typeof query !== "string" || query.length > MAX_FIELD_MANAGER_LENGTH || /[^\x20-\x7e]/.test(query)) {
    throw new ApiError("Invalid", `fieldManager: Invalid value: must be printable ASCII of at most ${MAX_FIELD_MANAGER_LENGTH} characters`, {
      causes: [{ field: "fieldManager", reason: "FieldValueInvalid", message: `must be printable ASCII of at most ${MAX_FIELD_MANAGER_LENGTH} characters` }],
    });
  }
  return query;
}

/**
 * The managedFields a client sent (kubectl resets them when it moves client-side apply to
 * server-side), validated; undefined when it sent none (the stored ones stay), as kube-apiserver:
 * an empty list keeps them, a list of one empty entry clears them.
 */
export function sentManagedFields(kind: KindInfo, name: string, value: unknown): ManagedFieldsEntry[] | undefined {
  if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) return undefined;
  if (!Array.isArray(value)) throw invalid(kind.kind, name, [{ field: "metadata.managedFields", message: "must be a list" }]);
  if (value.length === 1 && typeof value[0] === "object" && value[0] !== null && Object.keys(value[0]).length === 0) return [];
  const causes: StatusCause[] = [];
  const out: ManagedFieldsEntry[] = [];
  value.forEach((e: any, i: number) => {
    const at = `metadata.managedFields[${i}]`;
    if (typeof e !== "object" || e === null || Array.isArray(e)) return void causes.push({ field: at, message: "must be an object" });
    if (typeof e.manager !== "string" || e.manager.length > MAX_FIELD_MANAGER_LENGTH)
      causes.push({ field: `${at}.manager`, message: `must be a string of at most ${MAX_FIELD_MANAGER_LENGTH} characters` });
    if (e.operation !== "Apply" && e.operation !== "Update") causes.push({ field: `${at}.operation`, message: 'must be "Apply" or "Update"' });
    if (e.fieldsType !== "FieldsV1") causes.push({ field: `${at}.fieldsType`, message: 'must be "FieldsV1"' });
    if (e.subresource !== undefined && typeof e.subresource !== "string") causes.push({ field: `${at}.subresource`, message: "must be a string" });
    let fieldsV1: Record<string, unknown> = {};
    try {
      fieldsV1 = FieldSet.fromFieldsV1(e.fieldsV1 ?? {}).toFieldsV1();
    } catch (err) {
      causes.push({ field: `${at}.fieldsV1`, message: (err as Error).message });
    }
    out.push({
      manager: String(e.manager),
      operation: e.operation,
      apiVersion: typeof e.apiVersion === "string" ? e.apiVersion : API_VERSION,
      time: typeof e.time === "string" ? e.time : new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      fieldsType: "FieldsV1",
      fieldsV1,
      ...(typeof e.subresource === "string" ? { subresource: e.subresource } : {}),
    });
  });
  if (causes.length > 0) throw invalid(kind.kind, name, causes);
  return out;
}

/** The managedFields after an ordinary write by `manager` of `after` over `before` (absent: a create). */
export function managedAfterUpdate(kind: KindInfo, before: StoredObject | undefined, after: Record<string, any>, base: readonly ManagedFieldsEntry[], manager: string): ManagedFieldsEntry[] {
  return recordUpdate({
    before: before ? ownedPart(before) : undefined,
    after: ownedPart(after),
    managed: base,
    manager,
    apiVersion: API_VERSION,
    shape: shapeOfKind(kind),
    now: now(),
  });
}

export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** kube-apiserver's answer to a conflicting apply: 409, one cause per field and manager. */
export function conflictError(kind: KindInfo, name: string, conflicts: readonly ApplyConflict[]): ApiError {
  const describe = (c: ApplyConflict) => `conflict with "${c.manager}" using ${c.apiVersion}`;
  const lines = conflicts.map((c) => `${describe(c)}: ${c.field}`);
  const message = conflicts.length === 1 ? `Apply failed with 1 conflict: ${lines[0]}` : `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
  return new ApiError("Conflict", message, {
    name,
    group: "eiaas.io",
    kind: kind.plural,
    causes: conflicts.map((c) => ({ reason: "FieldManagerConflict", message: describe(c), field: c.field })),
  });
}

/**
 * An applied configuration as kube-apiserver admits one: an object of this kind and version,
 * naming (if at all) the object of the URL, without managedFields (the server's to keep).
 */
export function appliedConfiguration(kind: KindInfo, namespace: string | undefined, name: string, body: unknown): Record<string, any> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ApiError("BadRequest", `an apply patch must be an object (a ${kind.kind})`);
  const b = body as Record<string, any>;
  if (b.apiVersion !== API_VERSION || b.kind !== kind.kind) {
    throw new ApiError("BadRequest", `an apply patch must say apiVersion: ${API_VERSION} and kind: ${kind.kind} (got ${JSON.stringify(b.apiVersion ?? "")}, ${JSON.stringify(b.kind ?? "")})`);
  }
  if (b.metadata !== undefined && (typeof b.metadata !== "object" || b.metadata === null || Array.isArray(b.metadata)))
    throw invalid(kind.kind, name, [{ field: "metadata", message: "must be an object" }]);
  const m = (b.metadata ?? {}) as Record<string, unknown>;
  if (m.name !== undefined && m.name !== name) throw new ApiError("BadRequest", `the name of the object (${String(m.name)}) does not match the name on the URL (${name})`);
  if (m.namespace !== undefined && kind.namespaced && m.namespace !== namespace) {
    throw new ApiError("BadRequest", `the namespace of the provided object (${String(m.namespace)}) does not match the namespace sent on the request (${namespace})`);
  }
  if (m.managedFields !== undefined) throw new ApiError("BadRequest", "metadata.managedFields must be nil");
  return b;
}

/**
 * Whether an apply by kubectl's own manager that conflicts only on fields of the object's
 * client-side apply (`last-applied-configuration`, values unchanged since) may go on as forced:
 * kube-apiserver's upgrade from `kubectl apply` to `kubectl apply --server-side`
 * (lastAppliedManager), so the first server-side apply does not conflict with the client-side one.
 */
export function upgradesClientSideApply(kind: KindInfo, current: StoredObject, manager: string, conflicts: readonly ApplyConflict[]): boolean {
  if (manager !== "kubectl") return false;
  const text = current.metadata.annotations?.[LAST_APPLIED_ANNOTATION];
  if (!text) return false;
  let lastApplied: unknown;
  try {
    lastApplied = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof lastApplied !== "object" || lastApplied === null || Array.isArray(lastApplied)) return false;
  const shape = shapeOfKind(kind);
  const last = ownedPart(lastApplied as Record<string, unknown>);
  const live = ownedPart(current);
  const lastSet = toFieldSet(last, shape);
  return conflicts.every((c) => lastSet.has(c.path) && isDeepStrictEqual(valueAt(last, shape, c.path), valueAt(live, shape, c.path)));
}
