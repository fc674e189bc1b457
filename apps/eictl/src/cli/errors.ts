import { ApiRequestError, ConfigError, ConnectionError } from "@eiaas/client";

/** A user-facing failure: printed as `error: <message>` (one line, no stack), exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * The one line printed for a failure, as kubectl prints it: `Error from server (Reason): message`
 * for the API's Status, `error: message` for everything else. Never a stack trace.
 */
export function formatError(err: unknown): string {
  if (err instanceof ApiRequestError) {
    const reason = err.reason ? ` (${err.reason})` : "";
    return oneLine(`Error from server${reason}: ${err.message}`);
  }
  if (err instanceof ConnectionError || err instanceof ConfigError || err instanceof CliError) return oneLine(`error: ${err.message}`);
  if (err instanceof Error) return oneLine(`error: ${err.message}`);
  return oneLine(`error: ${String(err)}`);
}

/** Prints the error line on stderr and marks the process as failed (exit code 1). */
export function reportError(err: unknown): void {
  process.stderr.write(`${formatError(err)}\n`);
  process.exitCode = 1;
}
