// Node agents as deployed: `apps/agent/src/main.ts` child processes (spawned by path: libs never
// import apps), each registering with a bootstrap token and consuming its queue. The end-to-end
// tests that run a real data plane (split serving, federated training) start them here.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Redis } from "ioredis";
import type { EdgeNodeSpecInput } from "@eiaas/api";
import { provisionAgentRedisUser } from "@eiaas/queue";
import { REPO_ROOT } from "./api-process.js";
import { testRedisUrl } from "./database.js";
import { waitFor } from "./wait.js";

/** The line an agent logs once it is registered and takes jobs. */
const CONSUMING = "agent registered and consuming its queue";

export interface AgentProcessesOptions {
  /** The API server's base URL. */
  server: string;
  /** A bootstrap token that registers any number of nodes. */
  bootstrapToken: string;
  /** The agents' `--runtime`. */
  runtime: "onnx" | "training" | "simulated";
  /** Where the agents keep their state (a temporary directory of the test's). */
  stateDir: string;
  /** A state directory per node below `stateDir` (each node fetches its artifacts with its own token). @defaultValue false — one shared */
  statePerNode?: boolean;
  /** Slots per agent. @defaultValue 4 */
  slots?: number;
}

export interface AgentProcess {
  child: ChildProcess;
  /** Settles when the process exits. */
  exited: Promise<unknown>;
  /** Its stdout and stderr, line by line. */
  log: string[];
}

export interface AgentProcesses {
  readonly running: ReadonlyMap<string, AgentProcess>;
  /** Starts node `name`'s agent and waits (up to 5 min: loading is slow on a busy machine) until it consumes its queue. */
  start(name: string, spec: EdgeNodeSpecInput, labels?: string): Promise<AgentProcess>;
  /** SIGKILLs node `name`'s agent (as a crash) and waits for it to exit. */
  kill(name: string): Promise<void>;
  /** SIGTERMs every agent, SIGKILLs one still running after `graceMs`. */
  stopAll(graceMs?: number): Promise<void>;
}

function collectLines(stream: Readable, into: string[]): void {
  let buffer = "";
  stream.on("data", (c: Buffer) => {
    buffer += c.toString("utf8");
    const parts = buffer.split("\n");
    buffer = parts.pop()!;
    into.push(...parts.filter(Boolean));
  });
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

export function agentProcesses(options: AgentProcessesOptions): AgentProcesses {
  const running = new Map<string, AgentProcess>();
  const start = async (name: string, spec: EdgeNodeSpecInput, labels = "") => {
    const specFile = join(options.stateDir, `${name}.spec.json`);
    await writeFile(specFile, JSON.stringify({ spec }));
    const stateDir = options.statePerNode ? join(options.stateDir, name) : options.stateDir;
    const args = ["--node", name, "--runtime", options.runtime, "--spec-file", specFile, "--server", options.server, "--slots", String(options.slots ?? 4), "--state-dir", stateDir];
    const child = spawn(process.execPath, ["--import", "tsx", "apps/agent/src/main.ts", ...args, "--heartbeat-seconds", "1", ...(labels ? ["--labels", labels] : [])], {
      cwd: REPO_ROOT,
      env: { ...process.env, EIAAS_BOOTSTRAP_TOKEN: options.bootstrapToken, EIAAS_LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const agent: AgentProcess = { child, exited: new Promise((resolve) => child.once("exit", resolve)), log: [] };
    collectLines(child.stdout!, agent.log);
    collectLines(child.stderr!, agent.log);
    running.set(name, agent);
    await waitFor(() => agent.log.some((l) => l.includes(CONSUMING)), `${name}'s agent consuming`, 300_000, 100).catch((err) => {
      throw new Error(`${(err as Error).message}: ${agent.log.slice(-5).join("\n")}`);
    });
    return agent;
  };
  const kill = async (name: string) => {
    const a = running.get(name);
    if (!a || !alive(a.child)) return;
    a.child.kill("SIGKILL");
    await a.exited;
  };
  const stopAll = async (graceMs = 10_000) => {
    for (const a of running.values()) {
      if (!alive(a.child)) continue;
      a.child.kill("SIGTERM");
      await Promise.race([a.exited, new Promise((r) => setTimeout(r, graceMs))]);
      if (alive(a.child)) {
        a.child.kill("SIGKILL");
        await a.exited;
      }
    }
  };
  return { running, start, kill, stopAll };
}

/**
 * What agents as deployed connect with: a Redis user of each node's own (the API hands its
 * credentials out at registration) and BullMQ's default key prefix. Spread `api` and `queue` into
 * the control plane's options; `close()` after the control plane.
 */
export function deployedAgentQueues(redisUrl = testRedisUrl()): {
  api: { queueCredentials(nodeName: string): Promise<{ url: string; username: string; password: string }> };
  queue: { prefix: string };
  close(): void;
} {
  const admin = new Redis(redisUrl);
  return {
    api: {
      queueCredentials: async (nodeName) => {
        const c = await provisionAgentRedisUser(admin, nodeName);
        return { url: redisUrl, username: c.username, password: c.password };
      },
    },
    queue: { prefix: "bull" },
    close: () => admin.disconnect(),
  };
}
