import type { Command } from "commander";
import { GROUP } from "@eiaas/api";
import { CliError } from "../cli/errors.js";
import { action, withSession } from "../cli/session.js";
import { parseOutput } from "../output/printers.js";
import { formatTable } from "../output/table.js";

interface ApiResourcesOptions {
  output?: string;
  namespaced?: string;
  headers: boolean;
}

export function registerApiResources(program: Command): void {
  program
    .command("api-resources")
    .description("Print the kinds the server serves (from /apis/eiaas.io/v1alpha1 discovery)")
    .option("-o, --output <format>", "wide or name")
    .option("--namespaced <bool>", "true: only namespaced kinds; false: only cluster-scoped ones")
    .option("--no-headers", "omit the header line")
    .action(
      action(async (opts: ApiResourcesOptions, cmd: Command) => {
        const format = parseOutput(opts.output, ["table", "wide", "name"]);
        if (opts.namespaced !== undefined && opts.namespaced !== "true" && opts.namespaced !== "false") throw new CliError(`invalid --namespaced "${opts.namespaced}": true or false`);
        const list = await withSession(cmd, (s) => s.client.apiResources());
        // Subresources (`edgenodes/status`) are not kinds of their own.
        const kinds = list.resources.filter((r) => !r.name.includes("/") && (opts.namespaced === undefined || String(r.namespaced) === opts.namespaced));
        kinds.sort((a, b) => a.name.localeCompare(b.name));
        if (format === "name") {
          process.stdout.write(kinds.map((r) => `${r.name}.${GROUP}\n`).join(""));
          return;
        }
        const wide = format === "wide";
        const rows = kinds.map((r) => [r.name, (r.shortNames ?? []).join(","), list.groupVersion, String(r.namespaced), r.kind, ...(wide ? [r.verbs.join(","), (r.categories ?? []).join(",")] : [])]);
        const header = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", ...(wide ? ["VERBS", "CATEGORIES"] : [])];
        process.stdout.write(formatTable(rows, opts.headers ? { header } : {}));
      }),
    );
}
