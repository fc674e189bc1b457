import { describe, expect, it } from "vitest";
import { parseDuration } from "../cli/duration.js";
import { formatError } from "../cli/errors.js";
import { ApiRequestError } from "@eiaas/client";
import { humanDuration } from "./age.js";
import { formatTable } from "./table.js";

describe("output", () => {
  it("tables: three spaces between columns, cells at least six wide, last column unpadded, colour without shifting", () => {
    expect(formatTable([["a", "Running", "x"]], { header: ["NAME", "PHASE", "AGE"] })).toBe("NAME   PHASE     AGE\na      Running   x\n");
    const coloured = formatTable([["a", "Running", "x"]], { header: ["NAME", "PHASE", "AGE"], colour: true });
    expect(coloured).toBe("NAME   PHASE     AGE\na      \u001b[32mRunning\u001b[0m   x\n");
    expect(formatTable([])).toBe("");
  });

  it("ages as kubectl prints them", () => {
    const s = 1000;
    expect([45 * s, 312 * s, 17 * 60 * s, (4 * 60 + 5) * 60 * s, 13 * 3600 * s, (3 * 24 + 4) * 3600 * s, 120 * 86400 * s, (2 * 365 + 30) * 86400 * s].map(humanDuration)).toEqual([
      "45s",
      "5m12s",
      "17m",
      "4h5m",
      "13h",
      "3d4h",
      "120d",
      "2y30d",
    ]);
  });

  it("durations and error lines", () => {
    expect(parseDuration("90", "--timeout")).toBe(90_000);
    expect(parseDuration("1h30m", "--timeout")).toBe(5_400_000);
    expect(parseDuration("250ms", "--timeout")).toBe(250);
    expect(() => parseDuration("5 minutes", "--timeout")).toThrow('invalid --timeout "5 minutes"');
    const err = new ApiRequestError({
      apiVersion: "v1",
      kind: "Status",
      metadata: {},
      status: "Failure",
      reason: "Invalid",
      code: 422,
      message: 'InferenceService "x" is invalid:\nspec.model: Required value',
    });
    expect(formatError(err)).toBe('Error from server (Invalid): InferenceService "x" is invalid: spec.model: Required value');
    expect(formatError(new Error("boom"))).toBe("error: boom");
  });
});
