import type { Table, TableRow } from "@eiaas/client";

export interface TableView {
  /** Show priority-1 columns too (`-o wide`). */
  wide?: boolean;
  /** Put NAMESPACE first (kubectl does with -A). */
  namespace?: boolean;
  /** Add a LABELS column (from each row's PartialObjectMetadata). */
  labels?: boolean;
}

/** A cell as kubectl prints it: null as <none>, numbers and booleans as text. */
export function cellText(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return "<none>";
  return String(v);
}

function labelsText(row: TableRow): string {
  const l = row.object?.metadata?.labels ?? {};
  const parts = Object.entries(l).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.sort().join(",") : "<none>";
}

/** Columns of a server Table to show: priority 0, and priority 1 with -o wide. */
function shownColumns(table: Table, view: TableView): number[] {
  return table.columnDefinitions.flatMap((c, i) => (c.priority === 0 || view.wide ? [i] : []));
}

/** The upper-case header of a server Table, as kubectl prints it. */
export function tableHeader(table: Table, view: TableView): string[] {
  const cols = shownColumns(table, view).map((i) => table.columnDefinitions[i]!.name.toUpperCase());
  return [...(view.namespace ? ["NAMESPACE"] : []), ...cols, ...(view.labels ? ["LABELS"] : [])];
}

/** The rows of a server Table as text cells. */
export function tableRows(table: Table, view: TableView): string[][] {
  const cols = shownColumns(table, view);
  return table.rows.map((row) => [...(view.namespace ? [row.object?.metadata?.namespace ?? ""] : []), ...cols.map((i) => cellText(row.cells[i])), ...(view.labels ? [labelsText(row)] : [])]);
}
