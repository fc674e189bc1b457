// How the generic resource routes read a request's options (query parameters and media types),
// each a Kubernetes option with kube-apiserver's answer to a bad value.
import type { Request, Response } from "express";
import { APPLY_MEDIA_TYPES } from "../http/json-body.js";
import { ApiError } from "../http/errors.js";
import { fieldManagerOf } from "../resources/ownership.js";
import type { PatchType } from "../resources/service.js";
import { isNonNegativeInt64, type UnknownFields } from "../resources/validate.js";

export function flag(v: unknown): boolean {
  return v === "true" || v === "1" || v === "";
}

export function isDryRun(req: Request): boolean {
  const d = req.query.dryRun;
  if (d === undefined) return false;
  if (d === "All" || (Array.isArray(d) && d.every((x) => x === "All"))) return true;
  throw new ApiError("BadRequest", `dryRun: unsupported value "${String(d)}" (only "All")`);
}

/**
 * The `fieldValidation` of a write and where its warnings go. Absent means Strict: unlike
 * kube-apiserver (Warn), a misspelt field of a workload is refused rather than dropped, so that
 * what is planned is what the client meant (kubectl sends Strict anyway).
 */
export function fieldValidationOf(req: Request): UnknownFields {
  const v = req.query.fieldValidation;
  if (v === undefined || v === "Strict") return { mode: "Strict" };
  if (v === "Warn" || v === "Ignore") return { mode: v, warnings: [] };
  throw new ApiError("BadRequest", `fieldValidation: invalid value "${String(v)}": must be one of Ignore, Warn, Strict`);
}

/** Kubernetes' warning headers (code 299), one per warning. */
export function sendWarnings(res: Response, unknown: UnknownFields): void {
  const warnings = [...new Set(unknown.warnings ?? [])];
  if (warnings.length > 0)
    res.setHeader(
      "Warning",
      warnings.map((w) => `299 - ${JSON.stringify(w)}`),
    );
}

export function parseLimit(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (!isNonNegativeInt64(v)) throw new ApiError("BadRequest", `limit: invalid value "${String(v)}": must be a non-negative 64-bit integer`);
  return Number(v);
}

/** Longest watch a client may ask for: what a Node timer holds (~24 days); longer ones fire at once. */
export const MAX_WATCH_TIMEOUT_SECONDS = Math.floor(2 ** 31 / 1000) - 1;

export function patchTypeOf(req: Request): PatchType | "apply" {
  const ct = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (ct === "application/merge-patch+json") return "merge";
  if (ct === "application/json-patch+json") return "json";
  if (APPLY_MEDIA_TYPES.has(ct)) return "apply";
  throw new ApiError(
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got "${ct}")`,
  );
}

/** `force` of a patch: only an apply may force (kube-apiserver answers 422 otherwise). */
export function forceOf(req: Request, apply: boolean): boolean {
  const v = req.query.force;
  if (v === undefined) return false;
  if (v !== "true" && v !== "false") throw new ApiError("BadRequest", `force: invalid value "${String(v)}": must be true or false`);
  if (v === "true" && !apply) {
    throw new ApiError("Invalid", "PatchOptions is invalid: force: Invalid value: true: may not be specified for non-apply patch", {
      kind: "PatchOptions",
      causes: [{ field: "force", reason: "FieldValueInvalid", message: "may not be specified for non-apply patch" }],
    });
  }
  return v === "true";
}

/** Who writes: `fieldManager`, else the User-Agent's product (see ownership.ts). */
export function managerOf(req: Request, apply = false): string {
  return fieldManagerOf(req.query.fieldManager, req.headers["user-agent"], apply);
}

export function requireJson(req: Request): void {
  const ct = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (ct !== "application/json") {
    throw new ApiError("UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json (got "${ct || "none"}")`);
  }
}
