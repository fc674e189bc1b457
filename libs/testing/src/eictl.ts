// Test-only: the API server (the real Express app on this test file's own cloned database, served
// over HTTPS with a generated CA) and the real eictl CLI as a child process with its own kubeconfig.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { ensureServingCertificate } from "@eiaas/api-server";
import { startTestApi } from "./api-server.js";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url)); // from libs/testing/src/
const MAIN = join(REPO_ROOT, "apps/eictl/src/main.ts");

export interface TestServer {
  /** The HTTPS URL eictl talks to. */
  url: string;
  /** A second, plain-HTTP listener of the same API, up while `url` is down. */
  sideUrl: string;
  adminToken: string;
  caPem: string;
  caPath: string;
  /** Stops the HTTPS listener and breaks every open connection (watches included), as a crash would. */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The API over HTTPS on a free port (certificates from apps/api-server's tls.ts). */
export async function startServer(): Promise<TestServer> {
  const api = await startTestApi({ rateLimit: { qps: 10_000, burst: 10_000 } });
  const dataDir = await mkdtemp(join(tmpdir(), "eictl-api-"));
  const tls = await ensureServingCertificate({ dataDir });
  const sideUrl = await api.listen();
  let server: https.Server | undefined;
  let port = 0;
  const start = async () => {
    const s = https.createServer({ cert: tls.certPem, key: tls.keyPem }, api.app);
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const kill = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise((r) => s.close(r));
    s.closeAllConnections();
    await closed;
  };
  await start();
  return {
    url: `https://127.0.0.1:${port}`,
    sideUrl,
    adminToken: api.adminToken,
    caPem: tls.caPem,
    caPath: tls.caPath,
    kill,
    start,
    close: async () => {
      await kill();
      await api.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** The kubeconfig (KUBECONFIG: one file, or several joined by ":"). */
  config: string;
  stdin?: string;
  env?: Record<string, string>;
  /** Run main.ts through tsx (as `npm run eictl` does) instead of the bundle. Default false. */
  tsx?: boolean;
}

let bundle: Promise<string> | undefined;

/**
 * eictl bundled once per test file with esbuild (the compiler tsx itself uses): the same source,
 * started in a quarter of the CPU time tsx needs to compile it on the fly, which keeps a suite of
 * many CLI runs fast on a small machine.
 */
export function eictlBundle(): Promise<string> {
  bundle ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "eictl-bundle-"));
    const outfile = join(dir, "eictl.mjs");
    await build({
      entryPoints: [MAIN],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile,
      logLevel: "error",
      // CommonJS dependencies (commander) call require(): give the ESM bundle one.
      banner: { js: 'import { createRequire as __eictlRequire } from "node:module"; const require = __eictlRequire(import.meta.url);' },
    });
    return outfile;
  })();
  return bundle;
}

/** A running eictl: its output so far, a way to wait for a line, and its exit. */
export interface Running {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once stdout (or stderr) matches. */
  waitFor(re: RegExp, stream?: "stdout" | "stderr", timeoutMs?: number): Promise<void>;
  exit: Promise<Result>;
}

function cliEnv(opts: RunOptions): NodeJS.ProcessEnv {
  // The old private config is looked for beside the kubeconfig, never in the real home (eictl
  // would import it and rename it aside).
  const first = opts.config.split(":")[0]!;
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: opts.config, EIAAS_CONFIG: `${first}.eiaas-config`, ...opts.env };
  // Output must be what a pipe gets, whatever the test runner sets.
  if (!opts.env?.FORCE_COLOR) delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  delete env.npm_lifecycle_event;
  return env;
}

/** Starts `eictl ARGS` in the background (call {@link eictlBundle} first unless `tsx` is set). */
export async function startEictl(args: string[], opts: RunOptions): Promise<Running> {
  const entry = opts.tsx ? ["--import", "tsx", MAIN] : [await eictlBundle()];
  const child = spawn(process.execPath, [...entry, ...args], { cwd: REPO_ROOT, env: cliEnv(opts), stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout!.on("data", (d) => {
    stdout += d;
    for (const l of listeners) l();
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
    for (const l of listeners) l();
  });
  child.stdin!.end(opts.stdin ?? "");
  const exit = new Promise<Result>((resolve) => child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr })));
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exit,
    waitFor: (re, stream = "stdout", timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (re.test(stream === "stdout" ? stdout : stderr)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${re} in ${stream}; stdout: ${stdout}; stderr: ${stderr}`));
        }, timeoutMs);
        listeners.add(check);
        void exit.then(() => {
          if (listeners.has(check)) {
            check();
            if (listeners.has(check)) {
              listeners.delete(check);
              clearTimeout(timer);
              reject(new Error(`eictl exited before ${re} appeared; stdout: ${stdout}; stderr: ${stderr}`));
            }
          }
        });
        check();
      }),
  };
}

/** Runs `eictl ARGS` to completion. */
export async function eictl(args: string[], opts: RunOptions): Promise<Result> {
  return (await startEictl(args, opts)).exit;
}

/** Every failure prints exactly one line on stderr, never a stack trace. */
export function oneErrorLine(r: Result): string {
  const lines = r.stderr.trimEnd().split("\n");
  if (r.code !== 1 || lines.length !== 1 || /\n\s+at /.test(r.stderr)) {
    throw new Error(`expected exit 1 with one stderr line, got ${r.code}: ${JSON.stringify(r.stderr)}`);
  }
  return lines[0]!;
}

/**
 * Checks a kubectl-style table: upper-case headers three spaces apart or more, and every row's
 * cells starting where their header starts. Answers the rows split into cells.
 */
export function parseTable(text: string): { header: string[]; rows: string[][] } {
  const lines = text.trimEnd().split("\n");
  const head = lines[0] ?? "";
  const word = "[A-Z][A-Z0-9%-]*(?:\\([A-Za-z]+\\))?";
  if (!new RegExp(`^${word}( {3,}${word})*$`).test(head)) throw new Error(`not a table header: ${JSON.stringify(head)}`);
  const starts = [...head.matchAll(new RegExp(word, "g"))].map((m) => m.index!);
  const rows = lines.slice(1).map((line) => {
    for (const s of starts.slice(1)) {
      if (line.length > s && line[s - 1] !== " ") throw new Error(`row not aligned at column ${s}: ${JSON.stringify(line)} under ${JSON.stringify(head)}`);
    }
    return starts.map((s, i) => line.slice(s, starts[i + 1] ?? line.length).trim());
  });
  return { header: head.split(/ {3,}/), rows };
}
