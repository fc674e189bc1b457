// Which registration failures the agent retries, and how long it waits: jittered exponential
// backoff (a fleet started together spreads out), a server's Retry-After honoured. The real
// processes are in host-detection.e2e.test.ts.
import { describe, expect, it } from "vitest";
import { ApiRequestError, ConnectionError } from "@eiaas/client";
import { backoffMs, failureReason, retryable } from "./registration.js";

const status = (code: number, reason: string, details: Record<string, unknown> = {}) =>
  new ApiRequestError({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `${reason} happened`, reason, code, details } as never);
const refused = () => new ConnectionError("refused", "https://api:8443", "refused", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });

describe("registration retry", () => {
  it("retries what time can change, not what only the operator or an admin can", () => {
    expect([refused(), new ConnectionError("x", "s", "unresolved"), new ConnectionError("x", "s", "timeout"), new ConnectionError("x", "s", "reset")].map(retryable)).toEqual([true, true, true, true]);
    expect([status(500, "InternalError"), status(503, "ServiceUnavailable"), status(429, "TooManyRequests"), status(409, "Conflict"), status(408, "Timeout")].map(retryable)).toEqual([true, true, true, true, true]);
    expect(
      [status(401, "Unauthorized"), status(403, "Forbidden"), status(404, "NotFound"), status(409, "AlreadyExists"), status(422, "Invalid"), new ConnectionError("x", "s", "tls"), new Error("a bug")].map(retryable),
    ).toEqual([false, false, false, false, false, false, false]);
  });

  it("says why in one line", () => {
    expect(failureReason(refused())).toBe("refused (ECONNREFUSED): https://api:8443");
    expect(failureReason(status(503, "ServiceUnavailable"))).toBe("503 ServiceUnavailable: ServiceUnavailable happened");
  });

  it("backs off exponentially from 0.5 s to 30 s, each pause between half and all of its step", () => {
    const low = (a: number) => backoffMs(a, {}, undefined, () => 0);
    const high = (a: number) => backoffMs(a, {}, undefined, () => 1);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20, 1000].map(low)).toEqual([250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000, 15000]);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20, 1000].map(high)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
    // A fleet does not come back in step.
    const pauses = new Set(Array.from({ length: 20 }, () => backoffMs(3)));
    expect(pauses.size).toBeGreaterThan(1);
    expect(backoffMs(2, { baseMs: 10, maxMs: 20 }, undefined, () => 1)).toBe(20);
  });

  it("honours the server's Retry-After, with up to a second of jitter", () => {
    expect(backoffMs(0, {}, 7, () => 0)).toBe(7000);
    expect(backoffMs(5, {}, 7, () => 1)).toBe(8000);
  });
});
