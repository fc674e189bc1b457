import type { Command } from "commander";
import { GROUP, type KindInfo } from "@eiaas/api";
import { ApiRequestError, type AnyObject, type Table } from "@eiaas/client";
import { CliError, reportError } from "../cli/errors.js";
import { action, withSession, type Session } from "../cli/session.js";
import { formatObjects, parseOutput, type OutputFormat } from "../output/printers.js";
import { tableHeader, tableRows, type TableView } from "../output/server-table.js";
import { colourEnabled } from "../output/style.js";
import { formatTable } from "../output/table.js";
import { isTokenKind, printTokens } from "./token.js";
import { watchObjects } from "./get-watch.js";
import { getObjects, kindArg, namespaceFor, selectors } from "./objects.js";
import { isEndpointsKind, printEndpoints } from "./endpoints.js";

export interface GetOptions {
  output?: string;
  selector?: string;
  fieldSelector?: string;
  headers: boolean;
  watch?: boolean;
  watchOnly?: boolean;
  outputWatchEvents?: boolean;
  showLabels?: boolean;
  client?: string;
  capability?: string;
}

function noResources(kind: KindInfo, ns: string | undefined): void {
  process.stderr.write(kind.namespaced && ns !== undefined ? `No resources found in ${ns} namespace.\n` : "No resources found\n");
}

async function getTables(s: Session, kind: KindInfo, ns: string | undefined, names: string[], opts: GetOptions): Promise<{ tables: Table[]; failed: boolean }> {
  if (names.length === 0) {
    return { tables: [await s.client.table(kind, { ...(ns !== undefined ? { namespace: ns } : {}), ...selectors(opts) })], failed: false };
  }
  const tables: Table[] = [];
  let failed = false;
  for (const name of names) {
    try {
      tables.push(await s.client.table(kind, { ...(ns !== undefined ? { namespace: ns } : {}), name }));
    } catch (err) {
      if (!(err instanceof ApiRequestError)) throw err;
      // As kubectl: report each missing object and go on with the others.
      reportError(err);
      failed = true;
    }
  }
  return { tables, failed };
}

/**
 * `get isvc,tj`: several kinds, as kubectl prints them: one table per kind (names prefixed with
 * `<kind>.<group>/`), separated by a blank line; machine output as one List.
 */
async function getKinds(s: Session, kinds: KindInfo[], names: string[], opts: GetOptions): Promise<void> {
  const format: OutputFormat = parseOutput(opts.output);
  if (names.length > 0) throw new CliError("names can only be given with a single kind: eictl get KIND NAME...");
  if (opts.watch || opts.watchOnly) throw new CliError("you may only specify a single resource type with --watch");
  if (format === "table" || format === "wide") {
    const sections: string[] = [];
    for (const kind of kinds) {
      const ns = namespaceFor(kind, s);
      const view: TableView = { wide: format === "wide", namespace: kind.namespaced && ns === undefined, labels: opts.showLabels === true };
      const { tables } = await getTables(s, kind, ns, [], opts);
      const t = tables[0];
      const rows = t ? tableRows(t, view) : [];
      if (!t || rows.length === 0) continue;
      const nameAt = view.namespace ? 1 : 0;
      for (const r of rows) r[nameAt] = `${kind.singular}.${GROUP}/${r[nameAt]}`;
      sections.push(formatTable(rows, { ...(opts.headers ? { header: tableHeader(t, view) } : {}), colour: colourEnabled(format) }));
    }
    if (sections.length) process.stdout.write(sections.join("\n"));
    else process.stderr.write(s.allNamespaces ? "No resources found\n" : `No resources found in ${s.namespace} namespace.\n`);
    return;
  }
  const objects: AnyObject[] = [];
  for (const kind of kinds) objects.push(...(await getObjects(s, kind, namespaceFor(kind, s), [], opts)).objects);
  process.stdout.write(formatObjects(objects, format, true));
}

async function get(s: Session, kindName: string, names: string[], opts: GetOptions): Promise<void> {
  const format: OutputFormat = parseOutput(opts.output);
  if (kindName.includes(",")) {
    await getKinds(s, kindName.split(",").filter(Boolean).map(kindArg), names, opts);
    return;
  }
  const kind = kindArg(kindName);
  if (s.allNamespaces && names.length > 0) throw new CliError("a resource cannot be retrieved by name across all namespaces");
  const ns = namespaceFor(kind, s);
  const view: TableView = { wide: format === "wide", namespace: kind.namespaced && ns === undefined, labels: opts.showLabels === true };
  if (opts.watch || opts.watchOnly) {
    if (names.length > 1) throw new CliError(`watch is only supported on individual resources and resource collections, but ${names.length} resources were named`);
    await watchObjects(s, kind, ns, names[0], { format, view, headers: opts.headers, watchOnly: opts.watchOnly === true, events: opts.outputWatchEvents === true, ...selectors(opts) });
    return;
  }
  if (format === "table" || format === "wide") {
    const { tables, failed } = await getTables(s, kind, ns, names, opts);
    const first = tables[0];
    const rows = tables.flatMap((t) => tableRows(t, view));
    if (first && rows.length > 0) {
      process.stdout.write(formatTable(rows, { ...(opts.headers ? { header: tableHeader(first, view) } : {}), colour: colourEnabled(format) }));
    } else if (names.length === 0) noResources(kind, ns);
    if (failed) process.exitCode = 1;
    return;
  }
  const { objects, failed } = await getObjects(s, kind, ns, names, opts);
  if (objects.length === 0 && names.length === 0 && format === "name") noResources(kind, ns);
  else if (objects.length > 0 || names.length === 0) process.stdout.write(formatObjects(objects, format, names.length !== 1));
  if (failed) process.exitCode = 1;
}

export function registerGet(program: Command): void {
  program
    .command("get")
    .argument("<kind>", "kind: plural, singular or short name (nodes, tenants, models, isvc, tj, tasks, events; several: isvc,tj; tokens TENANT; bootstraptokens; endpoints SERVICE)")
    .argument("[names...]", "only these objects (for tokens: the tenant)")
    .description("Display one or many resources")
    .option("-o, --output <format>", "table (default), wide, json, yaml or name")
    .option("-l, --selector <selector>", "label selector, e.g. tier=device,app in (a,b)")
    .option("--field-selector <selector>", "field selector, e.g. status.phase=Running,spec.nodeName=edge-1")
    .option("--no-headers", "omit the header line")
    .option("--show-labels", "add a LABELS column")
    .option("-w, --watch", "after listing, watch for changes (survives reconnects)")
    .option("--watch-only", "watch for changes without listing first")
    .option("--output-watch-events", "with --watch, show the event type (ADDED, MODIFIED, DELETED)")
    .option("--client <node>", "endpoints only: rank them by the latency predicted from this client node")
    .option("--capability <name>", "endpoints only: the Running services whose model has this capability (with --client)")
    .addHelpText(
      "after",
      "\nExamples:\n  eictl get nodes -o wide\n  eictl get isvc -A\n  eictl get tasks --field-selector spec.nodeName=edge-1 -w\n  eictl get tokens demo\n  eictl get endpoints camera-classifier --client device-01\n  eictl get endpoints --capability image-classification --client device-01",
    )
    .action(
      action(async (kindName: string, names: string[], opts: GetOptions, cmd: Command) => {
        await withSession(cmd, async (s) => {
          if (isEndpointsKind(kindName)) {
            await printEndpoints(s, names, opts);
            return;
          }
          if (opts.client !== undefined || opts.capability !== undefined) throw new CliError("--client and --capability apply to endpoints only: eictl get endpoints SERVICE --client NODE");
          if (isTokenKind(kindName)) await printTokens(s, kindName, names, opts);
          else await get(s, kindName, names, opts);
        });
      }),
    );
}
