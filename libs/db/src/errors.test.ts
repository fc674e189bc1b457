import { describe, expect, it } from "vitest";
import pg from "pg";
import { isRowError, isUnavailableError } from "./errors.js";
import { Prisma } from "./generated/prisma/client.js";

const pgError = (code: string, message = "x") => Object.assign(new Error(message), { code, severity: "ERROR" });

describe("isRowError", () => {
  it.each([
    { what: "unique key taken", err: pgError("23505", 'duplicate key value violates unique constraint "tasks_namespace_name_key"'), row: true },
    { what: "check violation", err: pgError("23514"), row: true },
    { what: "bad value for a column", err: pgError("22P02"), row: true },
    { what: "number out of range", err: pgError("22003"), row: true },
    { what: "index row too large", err: pgError("54000"), row: true },
    { what: "a pipelined write's precondition", err: pgError("EI409"), row: true },
    { what: "building the statement threw", err: new TypeError("Cannot read properties of undefined"), row: true },
    { what: "connection refused", err: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }), row: false },
    { what: "connection lost", err: new Error("Connection terminated unexpectedly"), row: false },
    { what: "server shutting down", err: pgError("57P01"), row: false },
    { what: "too many connections", err: pgError("53300"), row: false },
    { what: "deadlock", err: pgError("40P01"), row: false },
    { what: "statement timeout", err: pgError("57014"), row: false },
    { what: "no error object", err: undefined, row: false },
  ])("$what → $row", ({ err, row }) => {
    expect(isRowError(err)).toBe(row);
  });
});

describe("isUnavailableError", () => {
  const known = (code: string, message: string, driverAdapterError?: unknown) =>
    new Prisma.PrismaClientKnownRequestError(`\nInvalid \`prisma.apiToken.findUnique()\` invocation:\n\n${message}`, {
      code,
      clientVersion: "6.19.3",
      meta: driverAdapterError ? { modelName: "ApiToken", driverAdapterError } : {},
    });
  // What @prisma/adapter-pg throws (a DriverAdapterError) and puts in the known error's meta.
  const adapterError = (cause: Record<string, unknown>) => Object.assign(new Error(String(cause.kind)), { name: "DriverAdapterError", cause });
  const dbError = (code: string, message: string) => Object.assign(new pg.DatabaseError(message, 0, "error"), { code, severity: "FATAL" });
  const socket = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -111, syscall: "connect" });

  it.each([
    // node-postgres and the socket under it
    { what: "connection refused", err: socket("ECONNREFUSED"), unavailable: true },
    { what: "connection reset", err: socket("ECONNRESET"), unavailable: true },
    { what: "host unreachable", err: socket("EHOSTUNREACH"), unavailable: true },
    { what: "name not resolved", err: socket("ENOTFOUND"), unavailable: true },
    { what: "both addresses refused (AggregateError)", err: new AggregateError([socket("ECONNREFUSED"), socket("ECONNREFUSED")], ""), unavailable: true },
    { what: "connection terminated", err: new Error("Connection terminated unexpectedly"), unavailable: true },
    { what: "connect timeout of a client", err: new Error("Connection terminated due to connection timeout", { cause: new Error("timeout expired") }), unavailable: true },
    { what: "pool connect timeout", err: new Error("timeout exceeded when trying to connect"), unavailable: true },
    { what: "client broken by its connection", err: new Error("Client has encountered a connection error and is not queryable"), unavailable: true },
    { what: "client closed", err: new Error("Client was closed and is not queryable"), unavailable: true },
    { what: "pool ended (shutting down)", err: new Error("Cannot use a pool after calling end on the pool"), unavailable: true },
    // Postgres' own answers
    { what: "57P01 admin shutdown", err: dbError("57P01", "terminating connection due to administrator command"), unavailable: true },
    { what: "57P02 crash shutdown", err: dbError("57P02", "terminating connection because of crash of another server process"), unavailable: true },
    { what: "57P03 cannot connect now", err: dbError("57P03", "the database system is starting up"), unavailable: true },
    { what: "57P03 in recovery", err: dbError("57P03", "the database system is in recovery mode"), unavailable: true },
    { what: "08006 connection failure", err: dbError("08006", "connection failure"), unavailable: true },
    { what: "08001 cannot establish", err: dbError("08001", "could not connect"), unavailable: true },
    { what: "08P01 protocol violation", err: dbError("08P01", "protocol violation"), unavailable: true },
    { what: "53300 too many connections", err: dbError("53300", "sorry, too many clients already"), unavailable: true },
    // Prisma (driver adapter on pg)
    { what: "P1001 can't reach", err: known("P1001", "Can't reach database server at 127.0.0.1:5432", adapterError({ kind: "DatabaseNotReachable" })), unavailable: true },
    { what: "P1002 timed out", err: known("P1002", "The database server was reached but timed out."), unavailable: true },
    { what: "P1008 operation timed out", err: known("P1008", "Operation has timed out", adapterError({ kind: "SocketTimeout" })), unavailable: true },
    { what: "P1017 server closed the connection", err: known("P1017", "Server has closed the connection.", adapterError({ kind: "ConnectionClosed" })), unavailable: true },
    { what: "P2024 pool timeout", err: known("P2024", "Timed out fetching a new connection from the connection pool."), unavailable: true },
    { what: "P2037 too many connections", err: known("P2037", "Too many database connections opened", adapterError({ kind: "TooManyConnections" })), unavailable: true },
    {
      what: "P2010 raw query on an unreachable server",
      err: known("P2010", "Raw query failed. Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:5432`", adapterError({ kind: "DatabaseNotReachable" })),
      unavailable: true,
    },
    {
      what: "a driver error of kind postgres, 57P01",
      err: adapterError({ kind: "postgres", code: "57P01", severity: "FATAL", message: "terminating connection due to administrator command" }),
      unavailable: true,
    },
    { what: "a bare ConnectionClosed adapter error", err: adapterError({ kind: "ConnectionClosed" }), unavailable: true },
    { what: "Server has closed the connection (message only)", err: new Error("Server has closed the connection."), unavailable: true },
    // Not unavailability: the statement, the rows or the caller are wrong
    { what: "unique key taken", err: dbError("23505", 'duplicate key value violates unique constraint "x"'), unavailable: false },
    { what: "P2002 unique constraint", err: known("P2002", "Unique constraint failed on the fields: (`token_hash`)", adapterError({ kind: "UniqueConstraintViolation" })), unavailable: false },
    { what: "P2025 record not found", err: known("P2025", "No record was found for an update."), unavailable: false },
    { what: "deadlock", err: dbError("40P01", "deadlock detected"), unavailable: false },
    { what: "statement timeout", err: dbError("57014", "canceling statement due to statement timeout"), unavailable: false },
    { what: "syntax error", err: dbError("42601", "syntax error at or near"), unavailable: false },
    { what: "a bug", err: new TypeError("Cannot read properties of undefined (reading 'x')"), unavailable: false },
    { what: "a string", err: "ECONNREFUSED", unavailable: false },
    { what: "no error object", err: undefined, unavailable: false },
    {
      what: "an error that is its own cause",
      err: (() => {
        const e = new Error("loop") as Error & { cause?: unknown };
        e.cause = e;
        return e;
      })(),
      unavailable: false,
    },
  ])("$what → $unavailable", ({ err, unavailable }) => {
    expect(isUnavailableError(err)).toBe(unavailable);
  });
});
