import type { Command } from "commander";
import { ApiRequestError } from "@eiaas/client";
import { GROUP, type KindInfo } from "@eiaas/api";
import { parseDuration } from "../cli/duration.js";
import { CliError, reportError } from "../cli/errors.js";
import { manifestNamespace, readManifests } from "../cli/manifests.js";
import { action, globalFlags, withSession, type Session } from "../cli/session.js";
import { waitDeleted } from "../cli/wait.js";
import { dryRunSuffix, parseDryRun, type DryRun } from "./apply.js";
import { kindArg, namespaceFor } from "./objects.js";
import { deleteTokens, isTokenKind } from "./token.js";

interface DeleteOptions {
  filename?: string[];
  recursive?: boolean;
  selector?: string;
  all?: boolean;
  wait?: boolean;
  timeout: string;
  ignoreNotFound?: boolean;
  dryRun?: string;
}

interface Target {
  kind: KindInfo;
  name: string;
  namespace: string | undefined;
}

async function deleteTargets(s: Session, targets: Target[], opts: DeleteOptions, dryRun: DryRun): Promise<void> {
  const timeoutMs = parseDuration(opts.timeout, "--timeout");
  let failed = false;
  const deleted: Target[] = [];
  for (const t of targets) {
    try {
      await s.client.delete(t.kind, t.name, { ...(t.namespace !== undefined ? { namespace: t.namespace } : {}), dryRun: dryRun === "server" });
      // kubectl's wording: `<singular>.<group> "<name>" deleted`.
      process.stdout.write(`${t.kind.singular}.${GROUP} "${t.name}" deleted${dryRunSuffix(dryRun)}\n`);
      deleted.push(t);
    } catch (err) {
      if (err instanceof ApiRequestError && err.code === 404 && opts.ignoreNotFound) continue;
      if (!(err instanceof ApiRequestError)) throw err;
      reportError(err);
      failed = true;
    }
  }
  if (opts.wait && dryRun === "none") for (const t of deleted) await waitDeleted(s, t.kind, t.namespace, t.name, timeoutMs);
  if (failed) process.exitCode = 1;
}

export function registerDelete(program: Command): void {
  program
    .command("delete")
    .argument("[kind]", "kind: plural, singular or short name (token TENANT NAME; bootstraptoken NAME)")
    .argument("[names...]", "objects to delete")
    .description("Delete objects by kind and name, by label selector, or from files")
    .option("-f, --filename <path...>", "delete the objects these files describe")
    .option("-R, --recursive", "also read the subdirectories of a directory")
    .option("-l, --selector <selector>", "delete every object of the kind matching this label selector")
    .option("--all", "delete every object of the kind in the namespace")
    .option("--wait", "wait until the objects are gone (finalizers and cascades done)")
    .option("--timeout <duration>", "how long --wait waits", "2m")
    .option("--ignore-not-found", "treat a missing object as deleted")
    .option("--dry-run [mode]", "server: check on the server without deleting")
    .addHelpText("after", "\nExamples:\n  eictl delete isvc camera\n  eictl delete -f deploy/examples/isvc-auto.yaml --wait\n  eictl delete token demo ci")
    .action(
      action(async (kindName: string | undefined, names: string[], opts: DeleteOptions, cmd: Command) => {
        const dryRun = parseDryRun(opts.dryRun);
        await withSession(cmd, async (s) => {
          if (opts.filename?.length) {
            if (kindName) throw new CliError("give either -f or a kind and names, not both");
            const explicitNs = globalFlags(cmd).namespace !== undefined;
            // Dependents first: workloads before models before nodes before tenants.
            const manifests = (await readManifests(opts.filename, opts.recursive === true)).reverse();
            const targets = manifests.map((m) => ({ kind: m.kind, name: m.object.metadata.name as string, namespace: manifestNamespace(m, s.namespace, explicitNs) }));
            await deleteTargets(s, targets, opts, dryRun);
            return;
          }
          if (!kindName) throw new CliError("you must provide one or more resources by argument or filename: eictl delete KIND NAME, or -f FILE");
          if (isTokenKind(kindName)) {
            await deleteTokens(s, kindName, names);
            return;
          }
          const kind = kindArg(kindName);
          const ns = namespaceFor(kind, s);
          if (opts.selector || opts.all) {
            if (names.length) throw new CliError("names cannot be given together with --selector or --all");
            const list = await s.client.listAll(kind, { ...(ns !== undefined ? { namespace: ns } : {}), ...(opts.selector ? { labelSelector: opts.selector } : {}) });
            if (list.items.length === 0) {
              process.stderr.write("No resources found\n");
              return;
            }
            await deleteTargets(
              s,
              list.items.map((o) => ({ kind, name: o.metadata.name, namespace: kind.namespaced ? o.metadata.namespace : undefined })),
              opts,
              dryRun,
            );
            return;
          }
          if (names.length === 0) throw new CliError(`resource(s) were provided, but no name was specified: eictl delete ${kindName} NAME`);
          if (s.allNamespaces && kind.namespaced) throw new CliError("a resource cannot be deleted by name across all namespaces: give -n NAMESPACE");
          await deleteTargets(
            s,
            names.map((name) => ({ kind, name, namespace: ns })),
            opts,
            dryRun,
          );
        });
      }),
    );
}
