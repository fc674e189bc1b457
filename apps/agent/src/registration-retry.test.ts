// Which registration failures the agent retries, and how it says why. How long it waits is the
// retry helper's (libs/api retry.test.ts); a Retry-After honoured is in
// registration-lost-answer.test.ts; the real processes are in host-detection.e2e.test.ts.
import { describe, expect, it } from "vitest";
import { ApiRequestError, ConnectionError } from "@eiaas/client";
import { failureReason, retryable } from "./registration.js";

const status = (code: number, reason: string, details: Record<string, unknown> = {}) =>
  new ApiRequestError({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `${reason} happened`, reason, code, details } as never);
const refused = () => new ConnectionError("refused", "https://api:8443", "refused", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });

describe("registration retry", () => {
  it("retries what time can change, not what only the operator or an admin can", () => {
    expect([refused(), new ConnectionError("x", "s", "unresolved"), new ConnectionError("x", "s", "timeout"), new ConnectionError("x", "s", "reset")].map(retryable)).toEqual([true, true, true, true]);
    expect([status(500, "InternalError"), status(503, "ServiceUnavailable"), status(429, "TooManyRequests"), status(409, "Conflict"), status(408, "Timeout")].map(retryable)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(
      [
        status(401, "Unauthorized"),
        status(403, "Forbidden"),
        status(404, "NotFound"),
        status(409, "AlreadyExists"),
        status(422, "Invalid"),
        new ConnectionError("x", "s", "tls"),
        new Error("a bug"),
      ].map(retryable),
    ).toEqual([false, false, false, false, false, false, false]);
  });

  it("says why in one line", () => {
    expect(failureReason(refused())).toBe("refused (ECONNREFUSED): https://api:8443");
    expect(failureReason(status(503, "ServiceUnavailable"))).toBe("503 ServiceUnavailable: ServiceUnavailable happened");
  });
});
