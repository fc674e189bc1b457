import { WRITE_MISSED } from "./write-sql.js";

/** Why a store operation did not happen; the API maps each to its Status reason. */
export type StoreErrorReason = "NotFound" | "AlreadyExists" | "Conflict" | "Gone" | "Unavailable" | "Invalid" | "Forbidden" | "RequestEntityTooLarge";

export class StoreError extends Error {
  constructor(
    readonly reason: StoreErrorReason,
    message: string,
  ) {
    super(message);
    this.name = "StoreError";
  }
}

/** Postgres/driver errors that mean "the database is not reachable right now". */
export function isUnavailableError(err: unknown): boolean {
  const e = err as { code?: string; message?: string; cause?: unknown } | undefined;
  if (!e) return false;
  const code = e.code ?? "";
  if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08006", "53300"].includes(code)) {
    return true;
  }
  const msg = e.message ?? "";
  if (/ECONNREFUSED|Connection terminated|connection timeout|terminating connection|Can't reach database|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/i.test(msg)) {
    return true;
  }
  return e.cause !== undefined && e.cause !== err ? isUnavailableError(e.cause) : false;
}

/** Unique-key violations (23505) — a create that lost a race or reused a name. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string; cause?: unknown; meta?: { code?: string } } | undefined;
  if (!e) return false;
  if (e.code === "23505" || e.code === "P2002" || e.meta?.code === "23505") return true;
  if (/unique constraint|duplicate key/i.test(e.message ?? "")) return true;
  return e.cause !== undefined && e.cause !== err ? isUniqueViolation(e.cause) : false;
}

/** SQLSTATE classes of errors caused by the rows a statement writes: 22 data exception, 23 integrity constraint violation, 54 program limit exceeded. */
const ROW_ERROR_CLASSES = new Set(["22", "23", "54"]);

/**
 * Whether a write failed because of what it wrote — Postgres refused the rows (a unique key taken,
 * a check, a value out of range, an index row too large, a pipelined write's unmet precondition
 * EI409) or building the statement threw on them — rather than because the database is away or
 * broken. Such a failure belongs to the rows' owner: written apart from the others, they go
 * through and it alone fails.
 */
export function isRowError(err: unknown): boolean {
  if (err instanceof TypeError || err instanceof RangeError) return true;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return false;
  return code === WRITE_MISSED || ROW_ERROR_CLASSES.has(code.slice(0, 2));
}
