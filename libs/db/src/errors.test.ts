import { describe, expect, it } from "vitest";
import { isRowError } from "./errors.js";

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
