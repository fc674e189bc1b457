import type { KindInfo } from "@eiaas/api";
import type { Table, WatchEvent } from "@eiaas/client";
import type { Session } from "../cli/session.js";
import { resourceName, toJson, toYaml, type OutputFormat } from "../output/printers.js";
import { tableHeader, tableRows, type TableView } from "../output/server-table.js";
import { colourEnabled } from "../output/style.js";
import { columnWidths, formatTable } from "../output/table.js";

export interface WatchPrintOptions {
  format: OutputFormat;
  view: TableView;
  headers: boolean;
  /** Do not print the objects that exist when the watch starts. */
  watchOnly: boolean;
  /** Show each event's type (EVENT column, or `{type, object}` documents). */
  events: boolean;
  labelSelector?: string;
  fieldSelector?: string;
}

/**
 * `get -w`: the current objects, then every change as it happens. Table output comes from the
 * server's printing (each event carries a one-row Table), with the columns kept aligned as rows
 * arrive. The client's watch resumes from the last version after a reconnect, so a restarted server
 * or a dropped connection loses nothing.
 */
export async function watchObjects(s: Session, kind: KindInfo, ns: string | undefined, name: string | undefined, o: WatchPrintOptions): Promise<void> {
  const asTable = o.format === "table" || o.format === "wide";
  const fieldSelector = [name !== undefined ? `metadata.name=${name}` : "", o.fieldSelector ?? ""].filter(Boolean).join(",");
  const colour = colourEnabled(o.format);
  let widths: number[] | undefined;
  let documents = 0;
  let synced = false;
  const initial: WatchEvent<any>[] = [];

  // What each object's row last showed: a MODIFIED event that would print the same row again (a
  // status rewrite that changed nothing visible, the spec untouched) is not repeated.
  const shown = new Map<string, string>();
  const unchanged = (e: WatchEvent<any>): boolean => {
    const t = e.object as Table;
    const row = t.rows?.[0];
    if (!row) return false;
    const meta = row.object?.metadata ?? {};
    const key = `${meta.namespace ?? ""}/${meta.name ?? ""}`;
    const signature = JSON.stringify([row.cells.filter((_, i) => t.columnDefinitions[i]?.type !== "date"), meta.generation, meta.labels]);
    if (e.type === "DELETED") {
      shown.delete(key);
      return false;
    }
    const same = e.type === "MODIFIED" && shown.get(key) === signature;
    shown.set(key, signature);
    return same;
  };

  const print = (all: WatchEvent<any>[]) => {
    const events = asTable ? all.filter((e) => !unchanged(e)) : all;
    if (events.length === 0) return;
    if (asTable) {
      const rows = events.flatMap((e) => tableRows(e.object as Table, o.view).map((r) => (o.events ? [e.type, ...r] : r)));
      let header: string[] | undefined;
      if (widths === undefined) {
        header = o.headers ? [...(o.events ? ["EVENT"] : []), ...tableHeader(events[0]!.object as Table, o.view)] : undefined;
        // The EVENT column is as wide as its longest word from the start, so later rows stay aligned.
        widths = columnWidths(o.events ? [["MODIFIED"]] : [], header);
      }
      widths = columnWidths(rows, undefined, widths);
      process.stdout.write(formatTable(rows, { ...(header ? { header } : {}), colour, widths }));
      return;
    }
    for (const e of events) {
      const value = o.events ? { type: e.type, object: e.object } : e.object;
      if (o.format === "name") process.stdout.write(o.events ? `${e.type} ${resourceName(e.object)}\n` : `${resourceName(e.object)}\n`);
      else if (o.format === "json") process.stdout.write(toJson(value));
      else process.stdout.write(`${documents > 0 ? "---\n" : ""}${toYaml(value)}`);
      documents++;
    }
  };

  const watch = s.client.watch(kind, {
    ...(ns !== undefined ? { namespace: ns } : {}),
    ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}),
    ...(fieldSelector ? { fieldSelector } : {}),
    table: asTable,
    onSync: () => {
      if (synced) return;
      synced = true;
      print(initial.splice(0));
    },
  });
  for await (const ev of watch) {
    if (!synced) {
      if (!o.watchOnly) initial.push(ev);
      continue;
    }
    print([ev]);
  }
}
