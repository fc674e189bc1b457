// The agent binary (`node --import tsx apps/agent/src/main.ts`) given flags or an environment it
// cannot start with: one line on stderr naming what is wrong, no stack, exit code 2 (as for a
// registration refused for good: something to fix, not to restart); --help unchanged, exit code 0.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError, parseAgentConfig } from "./config.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

function runAgent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Nothing of the test runner's environment that the agent reads, but what the case sets.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EIAAS_")));
  const child = spawn(process.execPath, ["--import", "tsx", "apps/agent/src/main.ts", ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

const OK = ["--node", "n1", "--server", "https://127.0.0.1:1"];

type Case = { what: string; args: string[]; env?: NodeJS.ProcessEnv; says: RegExp; process?: true };
/** Every case goes through the schema; those marked `process` also through the binary (each start is seconds of a loaded machine). */
const cases: Case[] = [
  { what: "an unknown flag", args: [...OK, "--nodes", "x"], says: /^error: Unknown option '--nodes'.* \(see --help\)$/, process: true },
  { what: "a flag without its value", args: ["--server", "https://a", "--node"], says: /^error: Option '--node <value>' argument missing \(see --help\)$/ },
  { what: "no --node", args: ["--server", "https://a"], says: /^error: --node is required \(see --help\)$/, process: true },
  { what: "a node name the API could never take", args: ["--node", "Bad_Name", "--server", "https://a"], says: /^error: --node: must be a lowercase RFC 1123 subdomain/ },
  { what: "no server", args: ["--node", "n1"], says: /^error: --server \(or EIAAS_SERVER\) is required \(see --help\)$/ },
  { what: "a server that is not an http(s) URL", args: ["--node", "n1"], env: { EIAAS_SERVER: "ftp://x" }, says: /^error: --server: "ftp:\/\/x" is not an http\(s\) URL/ },
  { what: "slots that are not a number", args: [...OK, "--slots", "many"], says: /^error: --slots: must be a whole number from 1 to 1024/, process: true },
  { what: "no slots", args: [...OK, "--slots", "0"], says: /^error: --slots: must be a whole number from 1 to 1024/ },
  { what: "a heartbeat out of range", args: [...OK, "--heartbeat-seconds", "0"], says: /^error: --heartbeat-seconds: "0" is not a number of seconds between 0.1 and 3600/ },
  { what: "an unknown runtime", args: [...OK, "--runtime", "vm"], says: /^error: --runtime: unknown runtime "vm" \(one of simulated, process, docker, kubernetes, onnx, training\)/ },
  { what: "a label that is not key=value", args: [...OK, "--labels", "zone=a,oops"], says: /^error: --labels: "oops" is not key=value/ },
  { what: "a CA file that cannot be read", args: [...OK, "--ca-file", "/nonexistent/ca.pem"], says: /^error: --ca-file \/nonexistent\/ca.pem: cannot read it \(ENOENT\)/, process: true },
  { what: "a metrics port that is not one", args: OK, env: { EIAAS_METRICS_PORT: "http" }, says: /^error: EIAAS_METRICS_PORT: must be a port number \(0-65535\)/ },
  { what: "an unknown log level", args: OK, env: { EIAAS_LOG_LEVEL: "loud" }, says: /^error: EIAAS_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent/, process: true },
  { what: "a capacity flag that is not a number", args: [...OK, "--cpu", "lots"], says: /^error: --cpu: "lots" is not a number$/, process: true },
  { what: "a spec file that cannot be read", args: [...OK, "--spec-file", "/nonexistent/spec.yaml"], says: /^error: --spec-file \/nonexistent\/spec.yaml: ENOENT/ },
];

describe("agent flags and environment", () => {
  it("bad ones: one line naming the flag or variable", () => {
    const wrong = cases.flatMap((c) => {
      // The binary adds " (see --help)" to what the schema says, and the spec's own checks come later (node-spec.ts).
      if (c.args.includes("--cpu") || c.args.includes("--spec-file")) return [];
      try {
        parseAgentConfig(c.args, c.env ?? {});
        return [`${c.what}: accepted`];
      } catch (err) {
        const line = `error: ${(err as Error).message} (see --help)`;
        return err instanceof ConfigError && c.says.test(line) && !line.includes("\n") ? [] : [`${c.what}: ${line}`];
      }
    });
    expect(wrong).toEqual([]);
  });

  it("the binary given bad ones: one line on stderr, no stack, exit code 2", { timeout: 300_000 }, async () => {
    const run = cases.filter((c) => c.process);
    const results: Array<Awaited<ReturnType<typeof runAgent>>> = [];
    // Three at a time: each is a Node process loading the agent.
    for (let i = 0; i < run.length; i += 3) results.push(...(await Promise.all(run.slice(i, i + 3).map((c) => runAgent(c.args, c.env)))));
    const wrong = run.flatMap((c, i) => {
      const r = results[i]!;
      const lines = r.stderr.trimEnd().split("\n");
      const ok = r.code === 2 && lines.length === 1 && c.says.test(lines[0]!) && r.stdout === "";
      return ok ? [] : [`${c.what}: exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 400))}`];
    });
    expect(wrong).toEqual([]);
  });

  it("--help prints the usage (even beside other flags) and exits 0", { timeout: 120_000 }, async () => {
    const r = await runAgent(["--help", "--slots", "many"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.startsWith("eiaas node agent\n\nusage: agent --node NAME [--runtime simulated|process|docker|kubernetes|onnx|training] [--slots N]\n")).toBe(true);
    expect(r.stdout).toContain("env: EIAAS_BOOTSTRAP_TOKEN (needed until the node has a credential), EIAAS_SERVER, EIAAS_CA_FILE,");
    expect(r.stdout).toContain("2 bad flags, environment or spec, or the API refused the registration for good");
  });
});
