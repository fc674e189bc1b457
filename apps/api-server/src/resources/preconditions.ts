import type { KindInfo } from "@eiaas/api";
import { invalid } from "../http/errors.js";
import { isNonNegativeInt64 } from "./validate.js";

/** How often a write without a client precondition reads again after losing a race. */
export const PATCH_RETRIES = 5;

/** A client's resourceVersion precondition, or 422 naming `field`: it goes into a bigint query. */
export function expectedVersion(kind: KindInfo, name: string, value: unknown, field = "metadata.resourceVersion"): string | undefined {
  if (value === undefined) return undefined;
  if (!isNonNegativeInt64(value)) throw invalid(kind.kind, name, [{ field, message: "must be a resourceVersion returned by the server" }]);
  return value;
}
