import type { Request } from "express";
import type { StatusCause } from "@eiaas/api";
import { ApiError } from "./errors.js";

/** Kubernetes' `propagationPolicy` of a delete: what becomes of the objects that name the deleted one as owner. */
export type PropagationPolicy = "Background" | "Foreground" | "Orphan";

const POLICIES: readonly PropagationPolicy[] = ["Foreground", "Background", "Orphan"];

/** A delete's options, from its `DeleteOptions` body and its query (as kube-apiserver reads them). */
export interface DeleteOptions {
  dryRun: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  /** Absent: the kind's default (Background for every eiaas kind). */
  propagationPolicy?: PropagationPolicy;
}

function invalidOptions(causes: StatusCause[]): ApiError {
  return new ApiError("Invalid", `DeleteOptions is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}`, { kind: "DeleteOptions", causes });
}

function one(v: unknown): unknown {
  return Array.isArray(v) ? (v.length === 1 ? v[0] : v) : v;
}

/**
 * Reads a delete's options: the body (`DeleteOptions`, as kubectl sends them) and, for what the
 * body does not say, the query (as client-node sends `propagationPolicy`). Every field comes from
 * the caller: anything but the documented shapes is 400/422 naming the field.
 */
export function parseDeleteOptions(req: Request): DeleteOptions {
  const raw: unknown = req.body;
  if (raw !== undefined && raw !== null && (typeof raw !== "object" || Array.isArray(raw))) {
    throw new ApiError("BadRequest", "the body of a delete must be a DeleteOptions object");
  }
  const body = (raw ?? {}) as Record<string, unknown>;
  const causes: StatusCause[] = [];

  const dryRunQuery = req.query.dryRun;
  if (dryRunQuery !== undefined && !(dryRunQuery === "All" || (Array.isArray(dryRunQuery) && dryRunQuery.every((x) => x === "All")))) {
    throw new ApiError("BadRequest", `dryRun: unsupported value "${String(dryRunQuery)}" (only "All")`);
  }
  if (body.dryRun !== undefined && !(Array.isArray(body.dryRun) && body.dryRun.every((x) => x === "All"))) {
    causes.push({ field: "dryRun", reason: "FieldValueNotSupported", message: 'supported values: "All"' });
  }
  const dryRun = dryRunQuery !== undefined || (Array.isArray(body.dryRun) && body.dryRun.includes("All"));

  const policy = body.propagationPolicy ?? one(req.query.propagationPolicy);
  if (policy !== undefined && !POLICIES.includes(policy as PropagationPolicy)) {
    causes.push({ field: "propagationPolicy", reason: "FieldValueNotSupported", message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan"` });
  }
  // The deprecated `orphanDependents`: true is Orphan, false Background; with a policy it is 422 (as Kubernetes).
  const orphanRaw = body.orphanDependents ?? one(req.query.orphanDependents);
  let orphan: boolean | undefined;
  if (orphanRaw !== undefined) {
    if (orphanRaw === true || orphanRaw === "true") orphan = true;
    else if (orphanRaw === false || orphanRaw === "false") orphan = false;
    else causes.push({ field: "orphanDependents", reason: "FieldValueInvalid", message: "must be true or false" });
    if (policy !== undefined) causes.push({ field: "propagationPolicy", reason: "FieldValueForbidden", message: "orphanDependents and deletionPropagation cannot be both set" });
  }

  let preconditions: DeleteOptions["preconditions"];
  if (body.preconditions !== undefined && body.preconditions !== null) {
    const p = body.preconditions as Record<string, unknown>;
    if (typeof p !== "object" || Array.isArray(p)) causes.push({ field: "preconditions", reason: "FieldValueInvalid", message: "must be an object" });
    else {
      for (const f of ["uid", "resourceVersion"] as const) {
        if (p[f] !== undefined && p[f] !== null && typeof p[f] !== "string") causes.push({ field: `preconditions.${f}`, reason: "FieldValueInvalid", message: "must be a string" });
      }
      preconditions = {
        ...(typeof p.uid === "string" && p.uid ? { uid: p.uid } : {}),
        ...(typeof p.resourceVersion === "string" && p.resourceVersion ? { resourceVersion: p.resourceVersion } : {}),
      };
    }
  }
  if (causes.length > 0) throw invalidOptions(causes);

  const propagationPolicy = (policy as PropagationPolicy | undefined) ?? (orphan === undefined ? undefined : orphan ? "Orphan" : "Background");
  return { dryRun, ...(preconditions ? { preconditions } : {}), ...(propagationPolicy ? { propagationPolicy } : {}) };
}
