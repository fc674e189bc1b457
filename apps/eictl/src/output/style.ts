/** Colour on a terminal only: never in machine output, never with NO_COLOR (FORCE_COLOR forces it). */
export function colourEnabled(format?: string, stream: NodeJS.WriteStream = process.stdout): boolean {
  if (format === "json" || format === "yaml" || format === "name") return false;
  if (process.env.NO_COLOR) return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true;
}

const CODES = { red: 31, green: 32, yellow: 33, bold: 1, dim: 2 } as const;
export type Colour = keyof typeof CODES;

export function paint(text: string, colour: Colour | undefined): string {
  return colour ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text;
}

const GREEN = new Set(["Running", "Ready", "True", "Succeeded", "Active", "Normal"]);
const YELLOW = new Set(["Pending", "Scheduled", "Dispatched", "Unknown", "Terminating"]);
const RED = new Set(["Failed", "False", "NotReady", "Warning", "Unschedulable"]);

/** The colour of a status word in a table cell (phases, condition statuses, event types). */
export function statusColour(cell: string): Colour | undefined {
  if (GREEN.has(cell)) return "green";
  if (YELLOW.has(cell) || cell.endsWith(",SchedulingDisabled")) return "yellow";
  if (RED.has(cell)) return "red";
  return undefined;
}

/** Printable width of a string without its colour codes. */
export function visibleLength(text: string): number {
  return text.replace(/\u001b\[[0-9;]*m/g, "").length;
}
