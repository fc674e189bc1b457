import { isAbsolute, resolve } from "node:path";
import type { Command } from "commander";
import { EiaasClient, importLegacyConfig, legacyImportNotice, resolveConnection, type KubeconfigLocation, type ResolvedConnection } from "@eiaas/client";
import { reportError } from "./errors.js";

/** The flags every command takes (defined on the program in main.ts). */
export interface GlobalFlags {
  server?: string;
  token?: string;
  namespace?: string;
  allNamespaces?: boolean;
  context?: string;
  kubeconfig?: string;
}

export function globalFlags(cmd: Command): GlobalFlags {
  return cmd.optsWithGlobals() as GlobalFlags;
}

/** A connected command: the client, where it points and which namespace(s) it acts on. */
export interface Session {
  client: EiaasClient;
  connection: ResolvedConnection;
  /** `-n`, else the context's namespace, else `default`. */
  namespace: string;
  allNamespaces: boolean;
}

let imported = false;

/**
 * The kubeconfig files this invocation uses (`--kubeconfig`, else KUBECONFIG, else ~/.kube/config).
 * The first time, an old private config file (~/.eiaas/config) is imported into kubeconfig with a
 * one-line notice on stderr; not under `--kubeconfig`, which names a file for this call only.
 */
export async function kubeconfigLocation(cmd: Command): Promise<KubeconfigLocation> {
  const flags = globalFlags(cmd);
  if (flags.kubeconfig) return { explicitPath: userPath(flags.kubeconfig) };
  if (!imported) {
    imported = true;
    const done = await importLegacyConfig();
    if (done) process.stderr.write(`${legacyImportNotice(done)}\n`);
  }
  return {};
}

/** Resolves the context and flags into a client (`--server --token -n --context` override the context). */
export async function connect(cmd: Command): Promise<Session> {
  const flags = globalFlags(cmd);
  const connection = await resolveConnection({
    location: await kubeconfigLocation(cmd),
    flags: {
      ...(flags.server ? { server: flags.server } : {}),
      ...(flags.token ? { token: flags.token } : {}),
      ...(flags.namespace ? { namespace: flags.namespace } : {}),
      ...(flags.context ? { context: flags.context } : {}),
    },
  });
  const client = new EiaasClient({ ...connection, userAgent: `eictl/0.1.0 (node ${process.versions.node})` });
  return { client, connection, namespace: connection.namespace, allNamespaces: flags.allNamespaces === true };
}

type Action = (...args: any[]) => Promise<void> | void;

/**
 * Wraps a command's action: any failure becomes one line on stderr and exit code 1. Connections
 * opened by the action are closed by {@link withSession}.
 */
export function action<A extends Action>(fn: A): (...args: Parameters<A>) => Promise<void> {
  return async (...args: Parameters<A>) => {
    try {
      await fn(...args);
    } catch (err) {
      reportError(err);
    }
  };
}

/** Runs `fn` with a connected session and closes its connections afterwards. */
export async function withSession<T>(cmd: Command, fn: (s: Session) => Promise<T>): Promise<T> {
  const session = await connect(cmd);
  try {
    return await fn(session);
  } finally {
    session.client.close();
  }
}

/**
 * Resolves a path given on the command line. Under `npm run eictl -- ...` npm runs in the
 * repository root, so relative paths are taken from where the user typed the command (INIT_CWD).
 */
export function userPath(p: string): string {
  if (p === "-" || isAbsolute(p)) return p;
  const base = process.env.npm_lifecycle_event === "eictl" && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd();
  return resolve(base, p);
}
