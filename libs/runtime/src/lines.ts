import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

/** Longest line kept; longer output lines are cut (a task printing megabytes without a newline). */
export const MAX_LINE_LENGTH = 16 * 1024;

/** Calls `onLine` for every line of `stream`; resolves when the stream ends. */
export function forEachLine(stream: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on("line", (line) => onLine(line.length > MAX_LINE_LENGTH ? `${line.slice(0, MAX_LINE_LENGTH)}…` : line));
    rl.on("close", () => resolve());
    stream.on("error", () => rl.close());
  });
}
