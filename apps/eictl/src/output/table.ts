import { paint, statusColour, visibleLength } from "./style.js";

/** kubectl's tabwriter: three spaces between columns, cells at least six wide, last column unpadded. */
const PADDING = 3;
const MIN_WIDTH = 6;

export interface TableFormat {
  /** Upper-case column headers; omitted with --no-headers. */
  header?: string[];
  /** Colour status words (only on a terminal). */
  colour?: boolean;
  /** Widths to start from (a watch keeps its columns steady as rows arrive). */
  widths?: number[];
}

/** Column widths (without padding) of a header and rows. */
export function columnWidths(rows: string[][], header?: string[], start: number[] = []): number[] {
  const widths = [...start];
  for (const row of header ? [header, ...rows] : rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  return widths;
}

function line(cells: string[], widths: number[], colour: boolean): string {
  return cells
    .map((cell, i) => {
      const shown = colour ? paint(cell, statusColour(cell)) : cell;
      if (i === cells.length - 1) return shown;
      const width = Math.max((widths[i] ?? 0) + PADDING, MIN_WIDTH);
      return shown + " ".repeat(Math.max(width - visibleLength(cell), 1));
    })
    .join("")
    .trimEnd();
}

/** Renders aligned rows like kubectl's tables; answers the text with a final newline. */
export function formatTable(rows: string[][], format: TableFormat = {}): string {
  const widths = columnWidths(rows, format.header, format.widths);
  const lines: string[] = [];
  if (format.header) lines.push(line(format.header, widths, false));
  for (const r of rows) lines.push(line(r, widths, format.colour === true));
  return lines.length ? `${lines.join("\n")}\n` : "";
}
