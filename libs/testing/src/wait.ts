// Polling and log capture, shared by the apps' tests (one copy instead of one per package).
import { Writable } from "node:stream";
import { createLogger, type Logger } from "@eiaas/telemetry";

/**
 * Polls `check` until it answers something truthy and returns that; a check that throws counts as
 * not yet (its last error goes into the timeout's message).
 * @param timeoutMs - give up after this long. @defaultValue 20 000
 * @param everyMs - pause between checks. @defaultValue 50
 */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A logger and the lines it wrote, parsed. */
export interface CapturedLog {
  logger: Logger;
  lines: Array<Record<string, any>>;
}

/** A pino logger named `name` at level debug whose lines are kept (parsed) for assertions; silent on stdout. */
export function captureLogger(name: string): CapturedLog {
  const lines: Array<Record<string, any>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ name, level: "debug", destination }), lines };
}
