import type { Command } from "commander";
import type { Token } from "@eiaas/client";
import { parseDuration } from "../cli/duration.js";
import { CliError } from "../cli/errors.js";
import { action, withSession, type Session } from "../cli/session.js";
import { age } from "../output/age.js";
import { parseOutput, toJson, toYaml } from "../output/printers.js";
import { formatTable } from "../output/table.js";

/** `tokens TENANT` and `bootstraptokens` are not API kinds: get and delete treat them here. */
export function isTokenKind(name: string): boolean {
  return ["token", "tokens", "bootstraptoken", "bootstraptokens"].includes(name.toLowerCase());
}

function isBootstrap(name: string): boolean {
  return name.toLowerCase().startsWith("bootstrap");
}

/** `get tokens TENANT` / `get bootstraptokens`: names, ages and expiry (never the secrets). */
export async function printTokens(s: Session, kindName: string, args: string[], opts: { output?: string; headers: boolean }): Promise<void> {
  const format = parseOutput(opts.output, ["table", "wide", "json", "yaml", "name"]);
  let list;
  if (isBootstrap(kindName)) {
    if (args.length > 0) throw new CliError(`unexpected argument "${args[0]}": bootstrap tokens belong to no tenant`);
    list = await s.client.listBootstrapTokens();
  } else {
    if (args.length !== 1) throw new CliError("name the tenant: eictl get tokens TENANT");
    list = await s.client.listTokens(args[0]!);
  }
  if (format === "json") process.stdout.write(toJson(list));
  else if (format === "yaml") process.stdout.write(toYaml(list));
  else if (format === "name") process.stdout.write(list.items.map((t) => `token/${t.metadata.name}\n`).join(""));
  else if (list.items.length === 0) process.stderr.write("No resources found\n");
  else {
    const now = Date.now();
    const boot = isBootstrap(kindName);
    // USES of a bootstrap token: registrations made / allowed.
    const rows = list.items.map((t) => [t.metadata.name, age(t.metadata.creationTimestamp, now), t.expiresAt ?? "<never>", ...(boot ? [`${t.uses ?? 0}/${t.maxUses ?? "unlimited"}`] : [])]);
    process.stdout.write(formatTable(rows, opts.headers ? { header: ["NAME", "AGE", "EXPIRES", ...(boot ? ["USES"] : [])] } : {}));
  }
}

/** `delete token TENANT NAME` / `delete bootstraptoken NAME`. */
export async function deleteTokens(s: Session, kindName: string, args: string[]): Promise<void> {
  if (isBootstrap(kindName)) {
    if (args.length === 0) throw new CliError("name the bootstrap token(s) to delete: eictl delete bootstraptoken NAME");
    for (const name of args) {
      await s.client.deleteBootstrapToken(name);
      process.stdout.write(`bootstraptoken "${name}" deleted\n`);
    }
    return;
  }
  const [tenant, ...names] = args;
  if (!tenant || names.length === 0) throw new CliError("name the tenant and the token(s): eictl delete token TENANT NAME");
  for (const name of names) {
    await s.client.deleteToken(tenant, name);
    process.stdout.write(`token "${name}" deleted\n`);
  }
}

interface MintOptions {
  name?: string;
  expiresIn?: string;
  ttl?: string;
  maxUses?: string;
  output?: string;
}

function expiry(opts: MintOptions): Date | undefined {
  if (!opts.expiresIn) return undefined;
  const ms = parseDuration(opts.expiresIn, "--expires-in");
  if (ms <= 0) throw new CliError("--expires-in must be more than 0");
  return new Date(Date.now() + ms);
}

/** `create bootstraptoken`'s lifetime and use count, as the API takes them. */
function bootstrapLimits(opts: MintOptions): { ttlSeconds?: number; maxUses?: number } {
  if (opts.ttl !== undefined && opts.expiresIn !== undefined) throw new CliError("give --ttl or --expires-in, not both");
  const out: { ttlSeconds?: number; maxUses?: number } = {};
  if (opts.ttl !== undefined) out.ttlSeconds = Math.ceil(parseDuration(opts.ttl, "--ttl") / 1000);
  if (opts.maxUses !== undefined) {
    if (!/^\d+$/.test(opts.maxUses.trim())) throw new CliError(`invalid --max-uses "${opts.maxUses}": a whole number of registrations (0: no limit)`);
    out.maxUses = Number(opts.maxUses);
  }
  return out;
}

/**
 * The secret alone by default (so `TOKEN=$(eictl create token demo)` works), the object with -o.
 * `create` itself has a -o option and commander lets the parent take it, so look there too.
 */
function printMinted(token: Token, opts: MintOptions, cmd: Command): void {
  const output = opts.output ?? (cmd.optsWithGlobals() as MintOptions).output;
  const format = output === undefined ? undefined : parseOutput(output, ["json", "yaml"]);
  if (format === "json") process.stdout.write(toJson(token));
  else if (format === "yaml") process.stdout.write(toYaml(token));
  else process.stdout.write(`${token.token ?? ""}\n`);
  if (!format && process.stderr.isTTY) process.stderr.write(`token "${token.metadata.name}" created: the secret is shown only this once\n`);
}

/** `create token TENANT` and `create bootstraptoken`, as subcommands of `create`. */
export function registerTokenCreate(create: Command): void {
  create
    .command("token")
    .argument("<tenant>", "the tenant the token acts for")
    .description("Mint a tenant token (admin); prints the secret, shown only this once")
    .option("--name <name>", "token name (default: generated)")
    .option("--expires-in <duration>", "lifetime, e.g. 24h or 30d (default: never expires)")
    .option("-o, --output <format>", "json or yaml: the whole Token object")
    .action(
      action(async (tenant: string, opts: MintOptions, cmd: Command) => {
        const expiresAt = expiry(opts);
        const token = await withSession(cmd, (s) => s.client.createToken(tenant, { ...(opts.name ? { name: opts.name } : {}), ...(expiresAt ? { expiresAt } : {}) }));
        printMinted(token, opts, cmd);
      }),
    );
  create
    .command("bootstraptoken")
    .description("Mint a bootstrap token for node agents to register new nodes with (admin); single-use, 24h, unless told otherwise")
    .option("--name <name>", "token name (default: generated)")
    .option("--ttl <duration>", "lifetime, e.g. 1h or 7d; 0: never expires (default: 24h, as kubeadm's)")
    .option("--max-uses <n>", "how many nodes may register with it; 0: no limit (default: 1)")
    .option("--expires-in <duration>", "the same as --ttl (kept for scripts that use it)")
    .option("-o, --output <format>", "json or yaml: the whole Token object")
    .action(
      action(async (opts: MintOptions, cmd: Command) => {
        const limits = bootstrapLimits(opts);
        const expiresAt = expiry(opts);
        const token = await withSession(cmd, (s) => s.client.createBootstrapToken({ ...(opts.name ? { name: opts.name } : {}), ...(expiresAt ? { expiresAt } : {}), ...limits }));
        printMinted(token, opts, cmd);
      }),
    );
}
