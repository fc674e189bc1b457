import type { z } from "zod";
import type { StatusCause } from "./status.js";

/** Turns zod issues into Status causes with Kubernetes-style field paths (`spec.layers[0].flops`). */
export function issuesToCauses(error: z.ZodError, prefix = ""): StatusCause[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path as PropertyKey[], prefix);
    if (issue.code === "unrecognized_keys") {
      const keys = (issue as { keys: string[] }).keys;
      return {
        field: keys.length === 1 ? formatPath([...(issue.path as PropertyKey[]), keys[0]!], prefix) : path,
        message: `unknown field${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${k}"`).join(", ")}`,
        reason: "FieldValueInvalid",
      };
    }
    // zod 4 leaves `input` out of issues unless asked (reportInput), so a missing value is told
    // apart from a wrong one by the message zod writes for it.
    if (issue.code === "invalid_type" && (("input" in issue && issue.input === undefined) || / received undefined$/.test(issue.message))) {
      return { field: path, message: "Required value", reason: "FieldValueRequired" };
    }
    return { field: path, message: issue.message, reason: "FieldValueInvalid" };
  });
}

export function formatPath(path: readonly PropertyKey[], prefix = ""): string {
  let out = prefix;
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}
