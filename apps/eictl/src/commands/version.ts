import type { Command } from "commander";
import { action, withSession } from "../cli/session.js";
import { parseOutput, toJson, toYaml } from "../output/printers.js";

/** Version of eictl (kept with apps/eictl/package.json's). */
export const CLIENT_VERSION = "v0.1.0";

export function registerVersion(program: Command): void {
  program
    .command("version")
    .description("Print the client and server version information")
    .option("--client", "only the client version (no server needed)")
    .option("-o, --output <format>", "json or yaml")
    .action(
      action(async (opts: { client?: boolean; output?: string }, cmd: Command) => {
        const format = opts.output === undefined ? undefined : parseOutput(opts.output, ["json", "yaml"]);
        const client = { gitVersion: CLIENT_VERSION, platform: `${process.platform}/${process.arch}`, nodeVersion: process.versions.node };
        if (opts.client) {
          if (format) process.stdout.write(format === "json" ? toJson({ clientVersion: client }) : toYaml({ clientVersion: client }));
          else process.stdout.write(`Client Version: ${CLIENT_VERSION}\n`);
          return;
        }
        // The client's version is printed first, as kubectl does, even when the server is down.
        if (!format) process.stdout.write(`Client Version: ${CLIENT_VERSION}\n`);
        const server = await withSession(cmd, (s) => s.client.version());
        if (format) process.stdout.write(format === "json" ? toJson({ clientVersion: client, serverVersion: server }) : toYaml({ clientVersion: client, serverVersion: server }));
        // The server reports the Kubernetes API level it serves; eictl's reader wants eiaas' version.
        else process.stdout.write(`Server Version: ${(server as { eiaas?: { version?: string } }).eiaas?.version ?? server.gitVersion}\n`);
      }),
    );
}
