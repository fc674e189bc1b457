// The agent's flags and environment, parsed once by one schema (as the API server's and the
// scheduler's environment are): main.ts gets typed values or one line saying what is wrong.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { dnsSubdomain } from "@eiaas/api";
import type { RuntimeName } from "@eiaas/runtime";
import type { SpecFlags } from "./node-spec.js";

/** The agent's exit code for flags, environment or a spec it cannot use (and, see registration.ts, a registration refused for good): something to fix, not to restart. */
export const EXIT_BAD_CONFIG = 2;

/** Flags or environment the agent cannot start with: the message is one line naming the flag or variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const RUNTIMES = ["simulated", "process", "docker", "kubernetes", "onnx", "training"] as const satisfies readonly RuntimeName[];
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** `parseArgs` options: every value a string, validated by the schema below. */
const FLAGS = {
  node: { type: "string" },
  runtime: { type: "string", default: "simulated" },
  slots: { type: "string", default: "4" },
  server: { type: "string" },
  "ca-file": { type: "string" },
  "insecure-skip-tls-verify": { type: "boolean", default: false },
  "spec-file": { type: "string" },
  tier: { type: "string" },
  parent: { type: "string" },
  hardware: { type: "string" },
  cpu: { type: "string" },
  "memory-mib": { type: "string" },
  gpu: { type: "string" },
  gflops: { type: "string" },
  "uplink-mbps": { type: "string" },
  "downlink-mbps": { type: "string" },
  "rtt-ms": { type: "string" },
  labels: { type: "string", default: "" },
  "state-dir": { type: "string" },
  "heartbeat-seconds": { type: "string", default: "10" },
  "segment-dir": { type: "string" },
  "serve-host": { type: "string" },
  "advertise-host": { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

const SPEC_FLAGS = ["tier", "parent", "hardware", "cpu", "memory-mib", "gpu", "gflops", "uplink-mbps", "downlink-mbps", "rtt-ms"] as const satisfies ReadonlyArray<keyof SpecFlags>;

/** `k=v,k2=v2`: the labels it names. */
const labelList = z.string().transform((text, ctx) => {
  const labels: Record<string, string> = {};
  for (const kv of text.split(",").filter(Boolean)) {
    const i = kv.indexOf("=");
    if (i <= 0) {
      ctx.addIssue({ code: "custom", message: `"${kv}" is not key=value` });
      return z.NEVER;
    }
    labels[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return labels;
});

const optionalText = z.string().min(1).optional();

/**
 * Flags by their names, environment variables by theirs (`--server` and `--ca-file` fall back to
 * `EIAAS_SERVER` and `EIAAS_CA_FILE` before this schema sees them).
 */
export const agentConfigSchema = z.object({
  node: z.string({ error: "--node is required" }).pipe(dnsSubdomain),
  runtime: z.enum(RUNTIMES, { error: (i) => `unknown runtime "${String(i.input)}" (one of ${RUNTIMES.join(", ")})` }),
  slots: z.coerce
    .number({ error: "must be a whole number from 1 to 1024" })
    .int("must be a whole number from 1 to 1024")
    .min(1, "must be a whole number from 1 to 1024")
    .max(1024, "must be a whole number from 1 to 1024"),
  server: z
    .string({ error: "--server (or EIAAS_SERVER) is required" })
    .min(1, "--server (or EIAAS_SERVER) is required")
    .refine((v) => /^https?:\/\/[^/]/.test(v), { error: (i) => `"${String(i.input)}" is not an http(s) URL` }),
  "ca-file": optionalText,
  "insecure-skip-tls-verify": z.boolean(),
  "spec-file": optionalText,
  // The spec flags are the EdgeNode spec's: node-spec.ts checks them with the spec file and what
  // the agent detects (operatorSpec, then the EdgeNode schema).
  ...(Object.fromEntries(SPEC_FLAGS.map((f) => [f, z.string().optional()])) as Record<(typeof SPEC_FLAGS)[number], z.ZodOptional<z.ZodString>>),
  labels: labelList,
  "state-dir": optionalText,
  "heartbeat-seconds": z
    .string()
    .refine((v) => Number(v) >= 0.1 && Number(v) <= 3600, { error: (i) => `"${String(i.input)}" is not a number of seconds between 0.1 and 3600` })
    .transform(Number),
  "segment-dir": optionalText,
  "serve-host": optionalText,
  "advertise-host": optionalText,
  /** Registers a node that has no credential yet; empty is unset. */
  EIAAS_BOOTSTRAP_TOKEN: z
    .string()
    .optional()
    .transform((v) => v || undefined),
  /** Default of `--state-dir` (`$EIAAS_DATA_DIR/agents`). */
  EIAAS_DATA_DIR: z.string().min(1).default(".eiaas"),
  /** Serves /livez, /readyz and /metrics when set. */
  EIAAS_METRICS_PORT: z.coerce
    .number({ error: "must be a port number (0-65535)" })
    .int("must be a port number (0-65535)")
    .min(0, "must be a port number (0-65535)")
    .max(65535, "must be a port number (0-65535)")
    .optional(),
  EIAAS_LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"),
  /** Namespace of the kubernetes runtime's Pods. */
  EIAAS_K8S_NAMESPACE: optionalText,
});

/** What the agent starts with. */
export interface AgentConfig {
  nodeName: string;
  runtime: RuntimeName;
  slots: number;
  server: string;
  /** The bootstrap token (EIAAS_BOOTSTRAP_TOKEN), if any. */
  bootstrapToken?: string;
  /** The CA bundle --ca-file (EIAAS_CA_FILE) named, read. */
  caPem?: string;
  insecureSkipTlsVerify: boolean;
  specFile?: string;
  specFlags: SpecFlags;
  labels: Record<string, string>;
  /** Absolute. */
  stateDir: string;
  heartbeatSeconds: number;
  segmentDir?: string;
  serveHost?: string;
  advertiseHost?: string;
  metricsPort?: number;
  logLevel: string;
  k8sNamespace?: string;
}

const parseFlags = (args: string[]) => parseArgs({ args, options: FLAGS }).values;

/** The flag (`--name`) or variable an issue is about. */
function subject(path: ReadonlyArray<PropertyKey>): string {
  const key = String(path[0] ?? "");
  return key.startsWith("EIAAS_") ? key : `--${key}`;
}

/**
 * The agent's configuration from its arguments and environment, or `"help"` for `--help`.
 * @throws {ConfigError} one line naming the flag or variable that is wrong.
 */
export function parseAgentConfig(args: readonly string[], env: NodeJS.ProcessEnv): AgentConfig | "help" {
  let values: ReturnType<typeof parseFlags>;
  try {
    values = parseFlags([...args]);
  } catch (err) {
    throw new ConfigError((err as Error).message.split("\n")[0]!);
  }
  if (values.help) return "help";
  const parsed = agentConfigSchema.safeParse({
    ...values,
    server: values.server ?? env.EIAAS_SERVER,
    "ca-file": values["ca-file"] ?? (env.EIAAS_CA_FILE || undefined),
    EIAAS_BOOTSTRAP_TOKEN: env.EIAAS_BOOTSTRAP_TOKEN,
    EIAAS_DATA_DIR: env.EIAAS_DATA_DIR || undefined,
    EIAAS_METRICS_PORT: env.EIAAS_METRICS_PORT || undefined,
    EIAAS_LOG_LEVEL: env.EIAAS_LOG_LEVEL || undefined,
    EIAAS_K8S_NAMESPACE: env.EIAAS_K8S_NAMESPACE || undefined,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // A message that names its flag or variable stands alone; others are prefixed with it.
    throw new ConfigError(/^(--|EIAAS_)/.test(issue.message) ? issue.message : `${subject(issue.path)}: ${issue.message}`);
  }
  const c = parsed.data;
  const caFile = c["ca-file"];
  let caPem: string | undefined;
  if (caFile) {
    try {
      caPem = readFileSync(caFile, "utf8");
    } catch (err) {
      throw new ConfigError(`--ca-file ${caFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const specFlags: SpecFlags = {};
  for (const f of SPEC_FLAGS) if (c[f] !== undefined) specFlags[f] = c[f];
  return {
    nodeName: c.node,
    runtime: c.runtime,
    slots: c.slots,
    server: c.server,
    ...(c.EIAAS_BOOTSTRAP_TOKEN ? { bootstrapToken: c.EIAAS_BOOTSTRAP_TOKEN } : {}),
    ...(caPem !== undefined ? { caPem } : {}),
    insecureSkipTlsVerify: c["insecure-skip-tls-verify"],
    ...(c["spec-file"] ? { specFile: c["spec-file"] } : {}),
    specFlags,
    labels: c.labels,
    stateDir: resolve(c["state-dir"] ?? join(c.EIAAS_DATA_DIR, "agents")),
    heartbeatSeconds: c["heartbeat-seconds"],
    ...(c["segment-dir"] ? { segmentDir: resolve(c["segment-dir"]) } : {}),
    ...(c["serve-host"] ? { serveHost: c["serve-host"] } : {}),
    ...(c["advertise-host"] ? { advertiseHost: c["advertise-host"] } : {}),
    ...(c.EIAAS_METRICS_PORT !== undefined ? { metricsPort: c.EIAAS_METRICS_PORT } : {}),
    logLevel: c.EIAAS_LOG_LEVEL,
    ...(c.EIAAS_K8S_NAMESPACE ? { k8sNamespace: c.EIAAS_K8S_NAMESPACE } : {}),
  };
}
