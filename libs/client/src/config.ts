/**
 * The eictl config file (`~/.eiaas/config`, or `EIAAS_CONFIG`): kubeconfig-like YAML with named
 * contexts (server, token, namespace, how to trust the server) and the current one.
 */
import { chmod, mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import type { ConnectionOptions } from "./transport.js";

export const CONFIG_API_VERSION = "eiaas.io/v1alpha1";

export interface Context {
  name: string;
  /** API server URL, e.g. `https://127.0.0.1:8443`. */
  server: string;
  /** Bearer token (admin or tenant). */
  token?: string;
  /** Default namespace (tenant) of namespaced commands. */
  namespace?: string;
  /** Path of a PEM file with the server's CA (relative paths are relative to the config file). */
  certificateAuthority?: string;
  /** The server's CA inline: base64 of the PEM, as kubeconfig's certificate-authority-data. */
  certificateAuthorityData?: string;
  /** Skip verifying the server's certificate. */
  insecureSkipTlsVerify?: boolean;
}

export interface EiaasConfig {
  apiVersion: string;
  kind: "Config";
  currentContext?: string;
  contexts: Context[];
}

/** The config file is missing a piece, is malformed, or names an unknown context. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Where the config lives: `EIAAS_CONFIG`, else `~/.eiaas/config`. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.EIAAS_CONFIG || join(homedir(), ".eiaas", "config");
}

export function emptyConfig(): EiaasConfig {
  return { apiVersion: CONFIG_API_VERSION, kind: "Config", contexts: [] };
}

const CONTEXT_KEYS = new Set(["name", "server", "token", "namespace", "certificateAuthority", "certificateAuthorityData", "insecureSkipTlsVerify"]);

function checkContext(raw: unknown, i: number, path: string): Context {
  const where = `${path}: contexts[${i}]`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ConfigError(`${where}: must be a mapping`);
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!CONTEXT_KEYS.has(k)) throw new ConfigError(`${where}: unknown field "${k}"`);
  for (const k of ["name", "server", "token", "namespace", "certificateAuthority", "certificateAuthorityData"]) {
    if (c[k] !== undefined && c[k] !== null && typeof c[k] !== "string") throw new ConfigError(`${where}.${k}: must be a string`);
  }
  if (!c.name) throw new ConfigError(`${where}.name: required`);
  if (!c.server) throw new ConfigError(`${where}.server: required`);
  if (c.insecureSkipTlsVerify !== undefined && typeof c.insecureSkipTlsVerify !== "boolean") throw new ConfigError(`${where}.insecureSkipTlsVerify: must be true or false`);
  const out: Context = { name: c.name as string, server: c.server as string };
  for (const k of ["token", "namespace", "certificateAuthority", "certificateAuthorityData"] as const) if (typeof c[k] === "string" && c[k]) out[k] = c[k] as string;
  if (c.insecureSkipTlsVerify === true) out.insecureSkipTlsVerify = true;
  return out;
}

/** Reads the config; a missing file is an empty config, a malformed one a ConfigError. */
export async function loadConfig(path: string = defaultConfigPath()): Promise<EiaasConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyConfig();
    throw new ConfigError(`cannot read the config file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigError(`the config file ${path} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return emptyConfig();
  if (typeof doc !== "object" || Array.isArray(doc)) throw new ConfigError(`the config file ${path} must be a mapping`);
  const d = doc as Record<string, unknown>;
  if (d.kind !== undefined && d.kind !== "Config") throw new ConfigError(`the config file ${path}: kind must be Config`);
  if (d.contexts !== undefined && d.contexts !== null && !Array.isArray(d.contexts)) throw new ConfigError(`the config file ${path}: contexts must be a list`);
  const contexts = ((d.contexts as unknown[] | null | undefined) ?? []).map((c, i) => checkContext(c, i, path));
  return {
    apiVersion: CONFIG_API_VERSION,
    kind: "Config",
    ...(typeof d.currentContext === "string" && d.currentContext ? { currentContext: d.currentContext } : {}),
    contexts,
  };
}

/** Writes the config atomically with mode 0600 (it holds bearer tokens), creating its directory. */
export async function saveConfig(config: EiaasConfig, path: string = defaultConfigPath()): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const ordered = {
    apiVersion: CONFIG_API_VERSION,
    kind: "Config",
    ...(config.currentContext ? { currentContext: config.currentContext } : {}),
    contexts: config.contexts,
  };
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, stringify(ordered, { lineWidth: 0 }), { mode: 0o600 });
  // The mode of writeFile is filtered by the umask: force it.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** A lock older than this is left over from a crashed writer and is taken over. */
const STALE_LOCK_MS = 10_000;

/**
 * Reads, changes and writes the config under a lock file (`<path>.lock`, as kubectl does), so two
 * eictl processes changing contexts at the same time do not lose each other's change.
 */
export async function updateConfig(path: string, change: (config: EiaasConfig) => EiaasConfig | Promise<EiaasConfig>): Promise<EiaasConfig> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const lock = `${path}.lock`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await (await open(lock, "wx", 0o600)).close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new ConfigError(`cannot lock the config file ${path}: ${(err as Error).message}`);
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > STALE_LOCK_MS) await unlink(lock).catch(() => undefined);
      else if (Date.now() > deadline) throw new ConfigError(`the config file ${path} is locked by another eictl (remove ${lock} if none is running)`);
      else await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    const next = await change(await loadConfig(path));
    await saveConfig(next, path);
    return next;
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

/** What set-context may change; absent fields keep their value. */
export type ContextUpdate = Partial<Omit<Context, "name">> & { name: string };

/**
 * Adds a context or changes the given fields of an existing one (as `kubectl config set-context`).
 * A CA and insecure-skip-tls-verify exclude each other: setting one clears the other. A new context
 * needs a server. The first context becomes the current one.
 */
export function setContext(config: EiaasConfig, update: ContextUpdate): EiaasConfig {
  if (update.certificateAuthority !== undefined && update.certificateAuthorityData !== undefined) {
    throw new ConfigError("give either a certificate authority file or its data, not both");
  }
  if (update.insecureSkipTlsVerify && (update.certificateAuthority || update.certificateAuthorityData)) {
    throw new ConfigError("a certificate authority and --insecure-skip-tls-verify exclude each other: give one");
  }
  const existing = config.contexts.find((c) => c.name === update.name);
  const next: Context = { ...(existing ?? { name: update.name, server: "" }) };
  for (const [k, v] of Object.entries(update) as Array<[keyof Context, unknown]>) {
    if (v === undefined) continue;
    (next as unknown as Record<string, unknown>)[k] = v;
  }
  if (update.certificateAuthority || update.certificateAuthorityData) delete next.insecureSkipTlsVerify;
  if (update.certificateAuthority) delete next.certificateAuthorityData;
  if (update.certificateAuthorityData) delete next.certificateAuthority;
  if (update.insecureSkipTlsVerify) {
    delete next.certificateAuthority;
    delete next.certificateAuthorityData;
  }
  if (next.insecureSkipTlsVerify === false) delete next.insecureSkipTlsVerify;
  for (const k of ["token", "namespace", "certificateAuthority", "certificateAuthorityData"] as const) if (next[k] === "") delete next[k];
  if (!next.server) throw new ConfigError(`context "${update.name}" needs a server: pass --server URL`);
  try {
    new URL(next.server);
  } catch {
    throw new ConfigError(`invalid server URL "${next.server}": expected e.g. https://127.0.0.1:8443`);
  }
  const contexts = existing ? config.contexts.map((c) => (c.name === update.name ? next : c)) : [...config.contexts, next];
  return { ...config, contexts, ...(config.currentContext ? {} : { currentContext: update.name }) };
}

/** Makes `name` the current context. */
export function useContext(config: EiaasConfig, name: string): EiaasConfig {
  if (!config.contexts.some((c) => c.name === name)) throw new ConfigError(`no context exists with the name: "${name}"`);
  return { ...config, currentContext: name };
}

/** Removes a context (and unsets it as current). */
export function deleteContext(config: EiaasConfig, name: string): EiaasConfig {
  if (!config.contexts.some((c) => c.name === name)) throw new ConfigError(`no context exists with the name: "${name}"`);
  const next: EiaasConfig = { ...config, contexts: config.contexts.filter((c) => c.name !== name) };
  if (next.currentContext === name) delete next.currentContext;
  return next;
}

/** Command-line overrides of the context (eictl's global flags). */
export interface ConnectionFlags {
  server?: string;
  token?: string;
  namespace?: string;
  /** Use this context instead of the current one. */
  context?: string;
  /** A CA file for this invocation (overrides the context's). */
  certificateAuthority?: string;
  insecureSkipTlsVerify?: boolean;
}

/** A resolved connection: what EiaasClient needs, plus the namespace and where it came from. */
export interface ResolvedConnection extends ConnectionOptions {
  /** Namespace of namespaced commands: `-n`, else the context's, else `default` (as kubectl). */
  namespace: string;
  /** Whether the namespace was chosen explicitly (flag or context) rather than defaulted. */
  namespaceExplicit: boolean;
  /** The context used, if any. */
  context?: string;
  configPath: string;
}

export interface ResolveOptions {
  flags?: ConnectionFlags;
  /** Default {@link defaultConfigPath}. */
  configPath?: string;
  /** An already loaded config (skips reading the file). */
  config?: EiaasConfig;
}

/**
 * Merges the flags over the chosen context (`--context`, else the current one). Flags win field by
 * field, as in kubectl. With no server from either, fails with a message saying how to set one up.
 */
export async function resolveConnection(opts: ResolveOptions = {}): Promise<ResolvedConnection> {
  const flags = opts.flags ?? {};
  const configPath = opts.configPath ?? defaultConfigPath();
  const config = opts.config ?? (await loadConfig(configPath));
  let ctx: Context | undefined;
  if (flags.context) {
    ctx = config.contexts.find((c) => c.name === flags.context);
    if (!ctx) throw new ConfigError(`context "${flags.context}" not found in ${configPath}: see 'eictl config get-contexts'`);
  } else if (config.currentContext) {
    ctx = config.contexts.find((c) => c.name === config.currentContext);
    if (!ctx && !flags.server) throw new ConfigError(`the current context "${config.currentContext}" is not in ${configPath}: run 'eictl config use-context NAME'`);
  }
  const server = flags.server ?? ctx?.server;
  if (!server) throw new ConfigError("no context is set: run 'eictl config set-context ...' or pass --server and --token");
  const token = flags.token ?? ctx?.token;
  const namespace = flags.namespace ?? ctx?.namespace;
  const out: ResolvedConnection = { server, namespace: namespace ?? "default", namespaceExplicit: namespace !== undefined, configPath };
  if (token) out.token = token;
  if (ctx) out.context = ctx.name;
  // TLS trust: a flag replaces the context's setting; a different --server keeps the context's CA
  // only when the flag names none (a CA is per server, but the demo's CA is the common case).
  if (flags.insecureSkipTlsVerify) out.insecureSkipTlsVerify = true;
  else if (flags.certificateAuthority) out.caPem = await readCa(resolve(flags.certificateAuthority));
  else if (ctx?.insecureSkipTlsVerify) out.insecureSkipTlsVerify = true;
  else if (ctx?.certificateAuthorityData) out.caPem = decodeCaData(ctx.certificateAuthorityData, ctx.name);
  else if (ctx?.certificateAuthority) {
    const file = isAbsolute(ctx.certificateAuthority) ? ctx.certificateAuthority : resolve(dirname(configPath), ctx.certificateAuthority);
    out.caPem = await readCa(file);
  }
  return out;
}

async function readCa(file: string): Promise<string> {
  try {
    const pem = await readFile(file, "utf8");
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`the certificate authority file ${file} holds no PEM certificate`);
    return pem;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read the certificate authority file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** certificateAuthorityData is base64 of the PEM (as kubeconfig); a raw PEM is accepted too. */
function decodeCaData(data: string, context: string): string {
  const pem = data.includes("-----BEGIN") ? data : Buffer.from(data, "base64").toString("utf8");
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`context "${context}": certificateAuthorityData holds no PEM certificate`);
  return pem;
}

/** Encodes a PEM for certificateAuthorityData. */
export function encodeCaData(pem: string): string {
  return Buffer.from(pem, "utf8").toString("base64");
}

export interface DemoContextOptions {
  /** URL the demo serves on, e.g. `https://127.0.0.1:8443`. */
  server: string;
  /** The token eictl should use (the demo's admin token). */
  token: string;
  /** PEM of the demo's CA; stored inline so the context works from any directory. Omit for plain http. */
  caPem?: string;
  /** Default namespace of the context. Default `demo`. */
  namespace?: string;
  /** Config file to write. Default {@link defaultConfigPath} (`EIAAS_CONFIG` or `~/.eiaas/config`). */
  configPath?: string;
  /** Context name. Default `demo`. */
  name?: string;
}

/**
 * Writes (or replaces) the `demo` context and makes it current, keeping the user's other contexts;
 * answers the config file's path. Called by `npm run demo` once the server is up.
 */
export async function writeDemoContext(opts: DemoContextOptions): Promise<string> {
  const path = opts.configPath ?? defaultConfigPath();
  const name = opts.name ?? "demo";
  const context: Context = { name, server: opts.server, token: opts.token, namespace: opts.namespace ?? "demo" };
  if (opts.caPem) context.certificateAuthorityData = encodeCaData(opts.caPem);
  await updateConfig(path, (config) => ({ ...config, contexts: [...config.contexts.filter((c) => c.name !== name), context], currentContext: name }));
  return path;
}
