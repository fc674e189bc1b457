import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { defaultConfigPath, deleteContext, encodeCaData, loadConfig, setContext, updateConfig, useContext, type ContextUpdate, type EiaasConfig } from "@eiaas/client";
import { CliError } from "../cli/errors.js";
import { action, globalFlags, userPath } from "../cli/session.js";
import { formatTable } from "../output/table.js";
import { parseOutput, toJson, toYaml } from "../output/printers.js";

interface SetContextOptions {
  certificateAuthority?: string;
  insecureSkipTlsVerify?: boolean;
  embedCerts?: boolean;
}

/** `config view` hides secrets unless --raw, as kubectl does. */
function redact(config: EiaasConfig): EiaasConfig {
  return {
    ...config,
    contexts: config.contexts.map((c) => ({
      ...c,
      ...(c.token ? { token: "REDACTED" } : {}),
      ...(c.certificateAuthorityData ? { certificateAuthorityData: "DATA+OMITTED" } : {}),
    })),
  };
}

export function registerConfig(program: Command): void {
  const config = program
    .command("config")
    .description(`Modify the eictl config file (${"$"}EIAAS_CONFIG, default ~/.eiaas/config)`)
    .addHelpText("after", "\nThe context's server, token and namespace come from the global flags: eictl config set-context NAME --server URL --token T -n NS");

  config
    .command("set-context")
    .argument("<name>", "context name")
    .description("Create or change a context: server, token, namespace and how to trust the server (--server, --token, -n)")
    .option("--certificate-authority <file>", "PEM file of the CA that signed the server's certificate")
    .option("--embed-certs", "store the CA's content in the config instead of its path")
    .option("--insecure-skip-tls-verify", "do not verify the server's certificate (testing only)")
    .action(
      action(async (name: string, opts: SetContextOptions, cmd: Command) => {
        const g = globalFlags(cmd);
        const update: ContextUpdate = { name };
        if (g.server !== undefined) update.server = g.server;
        if (g.token !== undefined) update.token = g.token;
        if (g.namespace !== undefined) update.namespace = g.namespace;
        if (opts.insecureSkipTlsVerify) update.insecureSkipTlsVerify = true;
        if (opts.certificateAuthority) {
          const file = userPath(opts.certificateAuthority);
          let pem: string;
          try {
            pem = await readFile(file, "utf8");
          } catch (err) {
            throw new CliError(`cannot read the certificate authority file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
          }
          if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new CliError(`${file} holds no PEM certificate`);
          if (opts.embedCerts) update.certificateAuthorityData = encodeCaData(pem);
          else update.certificateAuthority = file;
        }
        let existed = false;
        await updateConfig(defaultConfigPath(), (current) => {
          existed = current.contexts.some((c) => c.name === name);
          return setContext(current, update);
        });
        process.stdout.write(`Context "${name}" ${existed ? "modified" : "created"}.\n`);
      }),
    );

  config
    .command("use-context")
    .argument("<name>", "context name")
    .description("Make a context the current one")
    .action(
      action(async (name: string) => {
        await updateConfig(defaultConfigPath(), (c) => useContext(c, name));
        process.stdout.write(`Switched to context "${name}".\n`);
      }),
    );

  config
    .command("current-context")
    .description("Print the current context")
    .action(
      action(async () => {
        const c = await loadConfig(defaultConfigPath());
        if (!c.currentContext) throw new CliError("current-context is not set");
        process.stdout.write(`${c.currentContext}\n`);
      }),
    );

  config
    .command("delete-context")
    .argument("<name>", "context name")
    .description("Delete a context")
    .action(
      action(async (name: string) => {
        const path = defaultConfigPath();
        await updateConfig(path, (c) => deleteContext(c, name));
        process.stdout.write(`deleted context ${name} from ${path}\n`);
      }),
    );

  config
    .command("get-contexts")
    .argument("[names...]", "only these contexts")
    .description("List the contexts (* marks the current one)")
    .option("-o, --output <format>", "name")
    .option("--no-headers", "omit the header line")
    .action(
      action(async (names: string[], opts: { output?: string; headers: boolean }) => {
        const format = opts.output === undefined ? "table" : parseOutput(opts.output, ["name"]);
        const c = await loadConfig(defaultConfigPath());
        const missing = names.filter((n) => !c.contexts.some((x) => x.name === n));
        if (missing.length) throw new CliError(`context ${missing[0]} not found`);
        const shown = names.length ? c.contexts.filter((x) => names.includes(x.name)) : c.contexts;
        if (format === "name") {
          process.stdout.write(shown.map((x) => `${x.name}\n`).join(""));
          return;
        }
        const rows = shown.map((x) => [x.name === c.currentContext ? "*" : "", x.name, x.server, x.namespace ?? ""]);
        process.stdout.write(formatTable(rows, opts.headers ? { header: ["CURRENT", "NAME", "SERVER", "NAMESPACE"] } : {}));
      }),
    );

  config
    .command("view")
    .description("Show the config file (tokens and CA data redacted unless --raw)")
    .option("--raw", "show tokens and CA data")
    .option("--minify", "only the current context")
    .option("-o, --output <format>", "yaml (default) or json")
    .action(
      action(async (opts: { raw?: boolean; minify?: boolean; output?: string }) => {
        const format = parseOutput(opts.output ?? "yaml", ["yaml", "json"]);
        let c = await loadConfig(defaultConfigPath());
        if (opts.minify) {
          if (!c.currentContext) throw new CliError("current-context is not set: nothing to minify");
          c = { ...c, contexts: c.contexts.filter((x) => x.name === c.currentContext) };
        }
        const shown = opts.raw ? c : redact(c);
        process.stdout.write(format === "json" ? toJson(shown) : toYaml(shown));
      }),
    );
}
