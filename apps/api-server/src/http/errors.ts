import type { ServerResponse } from "node:http";
import type { ErrorRequestHandler } from "express";
import { failureStatus, issuesToCauses, type Status, type StatusCause, type StatusReason } from "@eiaas/api";
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

export function notFound(resource: string, name: string): ApiError {
  return new ApiError("NotFound", `${resource} "${name}" not found`, { name, kind: resource });
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
        return new ApiError("ServiceUnavailable", err.message);
      case "Invalid":
        return new ApiError("BadRequest", err.message);
      default:
        return new ApiError(err.reason, err.message);
    }
  }
  const e = err as { type?: string; status?: number; message?: string };
  // body-parser's errors
  // Kubernetes' words; `limit` is body-parser's and raw-body's.
  if (e?.type === "entity.too.large") return new ApiError("RequestEntityTooLarge", `Request entity too large: limit is ${(e as { limit?: number }).limit ?? "exceeded"}`);
  if (e?.type === "entity.parse.failed") return new ApiError("BadRequest", `the request body is not valid JSON: ${e.message ?? ""}`.trim());
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported") return new ApiError("UnsupportedMediaType", e.message ?? "unsupported encoding");
  if (e?.type === "request.aborted") return new ApiError("BadRequest", "the request was aborted");
  if (isUnavailableError(err)) return new ApiError("ServiceUnavailable", "the database is unavailable; retry later", { retryAfterSeconds: 1 });
  return new ApiError("InternalError", "an internal error occurred");
}

export function errorHandler(onInternal: (err: unknown) => void): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const status = statusOf(err, onInternal);
    if (res.headersSent) {
      res.end();
      return;
    }
    sendStatus(res, status);
  };
}
