import { WRITE_MISSED } from "./write-sql.js";

/** Why a store operation did not happen; the API maps each to its Status reason. */
export type StoreErrorReason = "NotFound" | "AlreadyExists" | "Conflict" | "Gone" | "Unavailable" | "Invalid" | "Forbidden" | "RequestEntityTooLarge";

export class StoreError extends Error {
  constructor(
    readonly reason: StoreErrorReason,
    message: string,
    /** The object concerned (a NotFound's resource and name), for the API's Status details. */
    readonly object?: { kind: string; name: string },
  ) {
    super(message);
    this.name = "StoreError";
  }
}

/**
 * SQLSTATEs that mean the server cannot serve right now (not that the statement is wrong): 57P01
 * admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up, shutting down, in
 * recovery), 53300 too many connections; and every code of class 08, connection exception.
 */
const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set(["57P01", "57P02", "57P03", "53300"]);

/** Node's codes of a socket that could not be opened or was lost. */
const SOCKET_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
]);

/**
 * Prisma's codes of a database it cannot reach or lost: P1001 can't reach, P1002 timed out, P1008
 * operation timed out, P1017 server closed the connection, P2024 timed out waiting for a pooled
 * connection, P2037 too many connections.
 */
const PRISMA_CODES: ReadonlySet<string> = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2037"]);

/** Prisma driver-adapter error kinds (`DriverAdapterError.cause.kind`) of the same. */
const ADAPTER_KINDS: ReadonlySet<string> = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections"]);

/**
 * What node-postgres, pg-pool, Prisma and Postgres say when the connection is refused, lost or
 * cannot be had in time — for errors that carry no code (pg's own) or whose code is a wrapper's
 * (Prisma's P2010 "Raw query failed" around an unreachable server).
 */
const UNAVAILABLE_MESSAGE =
  /ECONNREFUSED|ECONNRESET|Connection terminated|connection timeout|timeout expired|terminating connection|Can't reach database|Server has closed the connection|server closed the connection unexpectedly|timeout exceeded when trying to connect|Timed out fetching a new connection|Client has encountered a connection error|Client was closed and is not queryable|Cannot use a pool after calling end|the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)|too many clients already/i;

/**
 * Whether `err` means "the database is not reachable right now" — refused, lost, shut down,
 * starting up, out of connections — from any layer: pg (codes, SQLSTATEs, messages), pg-pool
 * (connect timeouts), Prisma (P1001/P1002/P1008/P1017/P2024/P2037, its driver-adapter errors in
 * `meta.driverAdapterError` and their `cause.kind`), and whatever wraps them (`cause`,
 * AggregateError's `errors`). The API answers these 503 with Retry-After, never 500.
 */
export function isUnavailableError(err: unknown): boolean {
  return unavailable(err, 0);
}

function unavailable(err: unknown, depth: number): boolean {
  if (err === null || typeof err !== "object" || depth > 5) return false;
  const e = err as { code?: unknown; message?: unknown; kind?: unknown; cause?: unknown; meta?: { driverAdapterError?: unknown }; errors?: unknown };
  if (typeof e.code === "string") {
    const code = e.code;
    if (SOCKET_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || PRISMA_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (typeof e.kind === "string" && ADAPTER_KINDS.has(e.kind)) return true;
  if (typeof e.message === "string" && UNAVAILABLE_MESSAGE.test(e.message)) return true;
  if (e.cause !== undefined && e.cause !== err && unavailable(e.cause, depth + 1)) return true;
  if (e.meta?.driverAdapterError !== undefined && unavailable(e.meta.driverAdapterError, depth + 1)) return true;
  return Array.isArray(e.errors) && e.errors.some((inner) => inner !== err && unavailable(inner, depth + 1));
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
