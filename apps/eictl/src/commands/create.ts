import type { Command } from "commander";
import { ApiRequestError, type AnyObject } from "@eiaas/client";
import { CliError, reportError } from "../cli/errors.js";
import { manifestNamespace, readManifests } from "../cli/manifests.js";
import { action, globalFlags, withSession } from "../cli/session.js";
import { formatObjects, parseOutput, shortRef } from "../output/printers.js";
import { withLastApplied } from "../cli/apply-patch.js";
import { dryRunSuffix, parseDryRun, printPlan } from "./apply.js";
import { registerTokenCreate } from "./token.js";

interface CreateOptions {
  filename?: string[];
  recursive?: boolean;
  dryRun?: string;
  output?: string;
  saveConfig?: boolean;
}

export function registerCreate(program: Command): void {
  const create = program
    .command("create")
    .description("Create objects from files (-f), a tenant token or a bootstrap token")
    .option("-f, --filename <path...>", "file, directory or - for stdin")
    .option("-R, --recursive", "also read the subdirectories of a directory")
    .option("--dry-run [mode]", "server: validate and plan on the server, store nothing; client: only print")
    .option("-o, --output <format>", "print the created objects: json, yaml or name")
    .option("--save-config", "record the object in the last-applied annotation so a later apply can compute deletions")
    .addHelpText("after", "\nExamples:\n  eictl create -f deploy/examples/tenant-demo.yaml\n  eictl create token demo --name ci --expires-in 30d\n  eictl create bootstraptoken --ttl 1h --max-uses 10")
    .action(
      action(async (opts: CreateOptions, cmd: Command) => {
        if (!opts.filename?.length) throw new CliError("must specify -f FILE, or a subcommand: token, bootstraptoken (see eictl create --help)");
        const dryRun = parseDryRun(opts.dryRun);
        const format = opts.output === undefined ? undefined : parseOutput(opts.output, ["json", "yaml", "name"]);
        const manifests = await readManifests(opts.filename, opts.recursive === true);
        const explicitNs = globalFlags(cmd).namespace !== undefined;
        await withSession(cmd, async (s) => {
          const created: AnyObject[] = [];
          let failed = false;
          for (const m of manifests) {
            try {
              const ns = manifestNamespace(m, s.namespace, explicitNs);
              const body = opts.saveConfig ? withLastApplied(m.object) : m.object;
              const obj = dryRun === "client" ? (body as AnyObject) : await s.client.create(m.kind, body, { ...(ns !== undefined ? { namespace: ns } : {}), dryRun: dryRun === "server" });
              created.push(obj);
              if (!format) {
                process.stdout.write(`${shortRef(m.object)} created${dryRunSuffix(dryRun)}\n`);
                if (dryRun === "server") printPlan(obj);
              }
            } catch (err) {
              if (!(err instanceof ApiRequestError) && !(err instanceof CliError)) throw err;
              reportError(err);
              failed = true;
            }
          }
          if (format) process.stdout.write(formatObjects(created, format, created.length !== 1));
          if (failed) process.exitCode = 1;
        });
      }),
    );
  registerTokenCreate(create);
}
