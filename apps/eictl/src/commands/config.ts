import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { deleteContext, encodeCaData, Kubeconfig, setContext, useContext, type ContextUpdate } from "@eiaas/client";
import { CliError } from "../cli/errors.js";
import { action, globalFlags, kubeconfigLocation, userPath } from "../cli/session.js";
import { formatKubeconfigView } from "../output/kubeconfig-view.js";
import { formatTable } from "../output/table.js";
import { parseOutput } from "../output/printers.js";

interface SetContextOptions {
  cluster?: string;
  user?: string;
  certificateAuthority?: string;
  insecureSkipTlsVerify?: boolean;
  embedCerts?: boolean;
}

/** The kubeconfig of this invocation, read (after the one-time import of an old eictl config). */
async function load(cmd: Command): Promise<Kubeconfig> {
  return Kubeconfig.load(await kubeconfigLocation(cmd));
}

async function readCaFile(path: string): Promise<string> {
  const file = userPath(path);
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (err) {
    throw new CliError(`cannot read the certificate authority file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new CliError(`${file} holds no PEM certificate`);
  return pem;
}

function registerSetContext(config: Command): void {
  config
    .command("set-context")
    .argument("<name>", "context name")
    .description("Create or change a context: its cluster (--server, how to trust it), its user (--token) and namespace (-n)")
    .option("--cluster <name>", "the cluster entry the context uses (default: its own, else one named as the context)")
    .option("--user <name>", "the user entry the context uses (default: its own, else one named as the context)")
    .option("--certificate-authority <file>", "PEM file of the CA that signed the server's certificate")
    .option("--embed-certs", "store the CA's content in kubeconfig instead of its path")
    .option("--insecure-skip-tls-verify", "do not verify the server's certificate (testing only)")
    .action(
      action(async (name: string, opts: SetContextOptions, cmd: Command) => {
        const g = globalFlags(cmd);
        const update: ContextUpdate = { name };
        for (const k of ["cluster", "user"] as const) if (opts[k] !== undefined) update[k] = opts[k];
        if (g.server !== undefined) update.server = g.server;
        if (g.token !== undefined) update.token = g.token;
        if (g.namespace !== undefined) update.namespace = g.namespace;
        if (opts.insecureSkipTlsVerify) update.insecureSkipTlsVerify = true;
        if (opts.certificateAuthority) {
          const pem = await readCaFile(opts.certificateAuthority);
          if (opts.embedCerts) update.certificateAuthorityData = encodeCaData(pem);
          else update.certificateAuthority = userPath(opts.certificateAuthority);
        }
        const { created } = await setContext(await kubeconfigLocation(cmd), update);
        process.stdout.write(`Context "${name}" ${created ? "created" : "modified"}.\n`);
      }),
    );
}

function registerGetContexts(config: Command): void {
  config
    .command("get-contexts")
    .argument("[names...]", "only these contexts")
    .description("List the contexts (* marks the current one)")
    .option("-o, --output <format>", "name")
    .option("--no-headers", "omit the header line")
    .action(
      action(async (names: string[], opts: { output?: string; headers: boolean }, cmd: Command) => {
        const format = opts.output === undefined ? "table" : parseOutput(opts.output, ["name"]);
        const kc = await load(cmd);
        const all = kc.list("contexts");
        const missing = names.find((n) => !all.some((x) => x.name === n));
        if (missing !== undefined) throw new CliError(`context ${missing} not found`);
        const shown = names.length ? all.filter((x) => names.includes(x.name)) : all;
        if (format === "name") {
          process.stdout.write(shown.map((x) => `${x.name}\n`).join(""));
          return;
        }
        const field = (b: Record<string, unknown>, k: string) => (typeof b[k] === "string" ? (b[k] as string) : "");
        const current = kc.currentContext;
        const rows = shown.map((x) => [x.name === current ? "*" : "", x.name, field(x.body, "cluster"), field(x.body, "user"), field(x.body, "namespace")]);
        process.stdout.write(formatTable(rows, opts.headers ? { header: ["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"] } : {}));
      }),
    );
}

export function registerConfig(program: Command): void {
  const config = program
    .command("config")
    .description("Modify kubeconfig, shared with kubectl ($KUBECONFIG, a list of files, else ~/.kube/config; --kubeconfig FILE)")
    .addHelpText("after", "\nThe context's server, token and namespace come from the global flags: eictl config set-context NAME --server URL --token T -n NS");

  registerSetContext(config);
  registerGetContexts(config);

  config
    .command("use-context")
    .argument("<name>", "context name")
    .description("Make a context the current one")
    .action(
      action(async (name: string, _opts: unknown, cmd: Command) => {
        await useContext(await kubeconfigLocation(cmd), name);
        process.stdout.write(`Switched to context "${name}".\n`);
      }),
    );

  config
    .command("current-context")
    .description("Print the current context")
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const current = (await load(cmd)).currentContext;
        if (!current) throw new CliError("current-context is not set");
        process.stdout.write(`${current}\n`);
      }),
    );

  config
    .command("delete-context")
    .argument("<name>", "context name")
    .description("Delete a context (its cluster and user stay)")
    .action(
      action(async (name: string, _opts: unknown, cmd: Command) => {
        const { file, wasCurrent } = await deleteContext(await kubeconfigLocation(cmd), name);
        if (wasCurrent) process.stderr.write(`warning: this removed your active context, use "eictl config use-context" to select a different one\n`);
        process.stdout.write(`deleted context ${name} from ${file}\n`);
      }),
    );

  config
    .command("view")
    .description("Show the merged kubeconfig (tokens and certificate data hidden unless --raw)")
    .option("--raw", "show tokens and certificate data")
    .option("--minify", "only the current context (or --context) and its cluster and user")
    .option("-o, --output <format>", "yaml (default) or json")
    .action(
      action(async (opts: { raw?: boolean; minify?: boolean; output?: string }, cmd: Command) => {
        const format = parseOutput(opts.output ?? "yaml", ["yaml", "json"]);
        const kc = await load(cmd);
        let minifyTo: string | undefined;
        if (opts.minify) {
          minifyTo = globalFlags(cmd).context ?? kc.currentContext;
          if (!minifyTo) throw new CliError("current-context must exist in order to minify");
        }
        process.stdout.write(formatKubeconfigView(kc, { format, ...(opts.raw ? { raw: true } : {}), ...(minifyTo !== undefined ? { minifyTo } : {}) }));
      }),
    );
}
