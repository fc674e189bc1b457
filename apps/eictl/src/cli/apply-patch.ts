/**
 * What `apply` sends for an existing object: a JSON merge patch computed three-way, as kubectl's
 * client-side apply does, from the last applied manifest (kept in an annotation), the new manifest
 * and the live object. Fields the server defaulted are not differences; fields removed from the
 * manifest since the last apply are deleted (null).
 */
import { LAST_APPLIED_ANNOTATION } from "@eiaas/api";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** Whether the live value already says everything the desired one says (server defaults may add more). */
export function covers(desired: unknown, live: unknown): boolean {
  if (desired === null) return live === null || live === undefined;
  if (Array.isArray(desired)) return Array.isArray(live) && desired.length === live.length && desired.every((d, i) => covers(d, live[i]));
  if (isObject(desired)) return isObject(live) && Object.entries(desired).every(([k, d]) => covers(d, live[k]));
  return desired === live;
}

/** The merge patch taking `live` to `desired`, given the last applied state; undefined when none is needed. */
export function diff(last: JsonObject | undefined, desired: JsonObject, live: JsonObject | undefined): JsonObject | undefined {
  const patch: JsonObject = {};
  for (const [key, d] of Object.entries(desired)) {
    const l = live?.[key];
    const p = last?.[key];
    if (isObject(d) && isObject(l)) {
      const sub = diff(isObject(p) ? p : undefined, d, l);
      if (sub) patch[key] = sub;
    } else if (!covers(d, l) || (Array.isArray(d) && p !== undefined && !deepEqual(p, d))) {
      // Arrays are replaced whole by a merge patch: send the manifest's when it changed.
      patch[key] = d;
    }
  }
  for (const key of Object.keys(last ?? {})) {
    if (!(key in desired) && live && key in live) patch[key] = null;
  }
  return Object.keys(patch).length ? patch : undefined;
}

/** The manifest as recorded in the last-applied annotation (without that annotation or status). */
export function lastAppliedOf(manifest: Record<string, any>): Record<string, any> {
  const { status: _status, ...rest } = manifest;
  const annotations = { ...(manifest.metadata?.annotations ?? {}) };
  delete annotations[LAST_APPLIED_ANNOTATION];
  const metadata = { ...(manifest.metadata ?? {}) };
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  else delete metadata.annotations;
  return { ...rest, metadata };
}

/** The manifest to create: with the last-applied annotation, so a later apply can compute deletions. */
export function withLastApplied(manifest: Record<string, any>): Record<string, any> {
  const recorded = lastAppliedOf(manifest);
  return {
    ...recorded,
    metadata: { ...recorded.metadata, annotations: { ...(recorded.metadata.annotations ?? {}), [LAST_APPLIED_ANNOTATION]: JSON.stringify(recorded) } },
  };
}

/** The parts apply manages: labels, annotations, spec, and for Events the top-level fields. */
function managed(obj: Record<string, any>): JsonObject {
  const { apiVersion: _a, kind: _k, metadata, status: _s, ...body } = obj;
  const meta: JsonObject = {};
  if (metadata?.labels !== undefined) meta.labels = metadata.labels;
  const annotations = { ...(metadata?.annotations ?? {}) };
  delete annotations[LAST_APPLIED_ANNOTATION];
  if (Object.keys(annotations).length) meta.annotations = annotations;
  return { metadata: meta, ...body };
}

/**
 * The patch `apply` sends for an existing object, or undefined when the object is unchanged. When
 * there is a change, the last-applied annotation is refreshed in the same patch.
 */
export function applyPatch(manifest: Record<string, any>, live: Record<string, any>): JsonObject | undefined {
  const recorded = live.metadata?.annotations?.[LAST_APPLIED_ANNOTATION];
  let last: JsonObject | undefined;
  try {
    last = typeof recorded === "string" ? managed(JSON.parse(recorded)) : undefined;
  } catch {
    last = undefined;
  }
  const patch = diff(last, managed(manifest), managed(live));
  if (!patch) return undefined;
  const meta = isObject(patch.metadata) ? patch.metadata : {};
  const annotations = isObject(meta.annotations) ? meta.annotations : {};
  annotations[LAST_APPLIED_ANNOTATION] = JSON.stringify(lastAppliedOf(manifest));
  return { ...patch, metadata: { ...meta, annotations } };
}
