import type { ServerResponse } from "node:http";
import type { ErrorRequestHandler } from "express";
import { failureStatus, GROUP, issuesToCauses, STATUS_CODES, type Status, type StatusCause, type StatusReason } from "@eiaas/api";
import { StoreError, isUnavailableError } from "@eiaas/db";
import type { z } from "zod";
import { sendJson } from "./one-write.js";

/** An error that is answered with a Kubernetes Status. */
export class ApiError extends Error {
  constructor(
    readonly reason: Exclude<StatusReason, "">,
    message: string,
    readonly details?: Status["details"],
  ) {
    super(message);
    this.name = "ApiError";
  }

  toStatus(): Status {
    return failureStatus(this.reason, this.message, this.details);
  }
}

/** A missing eiaas object: `details` name its group too, as kube-apiserver's NotFound does. */
export function notFound(resource: string, name: string, message = `${resource} "${name}" not found`): ApiError {
  return new ApiError("NotFound", message, { name, group: GROUP, kind: resource });
}

export function invalid(kind: string, name: string | undefined, causes: StatusCause[]): ApiError {
  const summary = causes.map((c) => `${c.field}: ${c.message}`).join(", ");
  return new ApiError("Invalid", `${kind}${name ? ` "${name}"` : ""} is invalid: ${summary}`, { name, kind, causes });
}

export function invalidFromZod(kind: string, name: string | undefined, error: z.ZodError, prefix = ""): ApiError {
  return invalid(kind, name, issuesToCauses(error, prefix));
}

/** Writes a Status as the response, in one write (any Node response: routed or not). */
export function sendStatus(res: ServerResponse, status: Status): void {
  sendJson(res, status.code, JSON.stringify(status), status.details?.retryAfterSeconds !== undefined ? { "Retry-After": String(status.details.retryAfterSeconds) } : {});
}

/**
 * Answers `err` with its Status, outside the router (where no error handler follows): never
 * throws, and a response already begun is ended rather than written twice.
 */
export function sendError(res: ServerResponse, err: unknown, onInternal: (err: unknown) => void): void {
  const status = statusOf(err, onInternal);
  if (res.headersSent) {
    res.end();
    return;
  }
  sendStatus(res, status);
}

/** The Status that answers `err`; `onInternal` hears of the errors that are the server's (5xx). */
export function statusOf(err: unknown, onInternal: (err: unknown) => void): Status {
  const apiErr = toApiError(err);
  if (apiErr.reason === "InternalError" || apiErr.reason === "ServiceUnavailable") onInternal(err);
  return apiErr.toStatus();
}

/** Maps anything thrown by a handler to a Status: never a stack trace, never a bare 500. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof StoreError) {
    switch (err.reason) {
      case "Unavailable":
        return new ApiError("ServiceUnavailable", err.message, { retryAfterSeconds: 1 });
      case "Invalid":
        return new ApiError("BadRequest", err.message);
      case "NotFound":
        return err.object ? notFound(err.object.kind, err.object.name, err.message) : new ApiError("NotFound", err.message);
      default:
        return new ApiError(err.reason, err.message);
    }
  }
  // A client error raised by Express itself (http-errors), e.g. the router's 400 for a path
  // segment that is not valid percent-encoding.
  const e = err as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) {
    if (err instanceof URIError) return new ApiError("BadRequest", `the request path is not valid percent-encoded UTF-8: ${err.message}`);
    return new ApiError(REASON_OF_CODE.get(e.status) ?? "BadRequest", e.expose === true && typeof e.message === "string" ? e.message : "bad request");
  }
  if (isUnavailableError(err)) return new ApiError("ServiceUnavailable", "the database is unavailable; retry later", { retryAfterSeconds: 1 });
  return new ApiError("InternalError", "an internal error occurred");
}

const REASON_OF_CODE = new Map(Object.entries(STATUS_CODES).map(([reason, code]) => [code, reason as Exclude<StatusReason, "">]));

export function errorHandler(onInternal: (err: unknown) => void): ErrorRequestHandler {
  return (err, _req, res, _next) => sendError(res, err, onInternal);
}
