// The serving program as a process (`eiaas-serve` in the image; `node --import tsx libs/serving/src/main.ts`):
// the same server the agent's `onnx` runtime runs in its own process, for the docker and kubernetes
// runtimes, with the segment file mounted into the container.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { startServing, type ServingOptions } from "./server.js";

const HELP = `eiaas-serve: serves one ONNX segment over HTTP (POST /v1/infer, GET /healthz)

usage: eiaas-serve --model FILE [--exit-head FILE --exit-threshold P] [--next HOST:PORT]
                   [--port N] [--host ADDR] [--threads N] [--max-running N] [--max-waiting N]
                   [--node NAME] [--layers FROM-TO]
                   [--cache-max-entries N --cache-ttl SECONDS] [--input-filter THRESHOLD]
env (flags win): EIAAS_SEGMENT_FILE, EIAAS_EXIT_HEAD_FILE, EIAAS_EXIT_THRESHOLD, EIAAS_NEXT_ENDPOINT,
     EIAAS_PORT (default 8080), EIAAS_SERVE_HOST (default 0.0.0.0), EIAAS_THREADS (default 1),
     EIAAS_NODE_NAME, EIAAS_LAYERS_FROM and EIAAS_LAYERS_TO (what the agent sets for its tasks),
     EIAAS_CACHE_MAX_ENTRIES, EIAAS_CACHE_TTL_SECONDS, EIAAS_INPUT_FILTER_THRESHOLD (the service's
     spec.caching and spec.inputFilter, set on its entry tasks)`;

function fail(message: string): never {
  console.error(`eiaas-serve: ${message}`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        model: { type: "string" },
        "exit-head": { type: "string" },
        "exit-threshold": { type: "string" },
        next: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        threads: { type: "string" },
        "max-running": { type: "string" },
        "max-waiting": { type: "string" },
        node: { type: "string" },
        layers: { type: "string" },
        "cache-max-entries": { type: "string" },
        "cache-ttl": { type: "string" },
        "input-filter": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message} (see --help)`);
  }
})();
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const env = process.env;

/** An integer option in [min, max], or the default when absent. */
function integer(name: string, raw: string | undefined, min: number, max: number, fallback?: number): number | undefined {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) fail(`${name}: "${raw}" is not an integer between ${min} and ${max}`);
  return n;
}

function read(what: string, file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    fail(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

const modelFile = values.model ?? env.EIAAS_SEGMENT_FILE ?? fail("--model FILE (or EIAAS_SEGMENT_FILE) is required");
const exitHeadFile = values["exit-head"] ?? env.EIAAS_EXIT_HEAD_FILE;
const thresholdRaw = values["exit-threshold"] ?? env.EIAAS_EXIT_THRESHOLD;
const threshold = thresholdRaw === undefined ? undefined : Number(thresholdRaw);
if (threshold !== undefined && !(threshold >= 0 && threshold <= 1)) fail(`--exit-threshold: "${thresholdRaw}" is not a number between 0 and 1`);
const layersRaw = values.layers ?? (env.EIAAS_LAYERS_FROM && env.EIAAS_LAYERS_TO ? `${env.EIAAS_LAYERS_FROM}-${env.EIAAS_LAYERS_TO}` : undefined);
const layersMatch = layersRaw === undefined ? undefined : (/^(\d+)-(\d+)$/.exec(layersRaw) ?? fail(`--layers: "${layersRaw}" is not FROM-TO`));
const next = values.next ?? env.EIAAS_NEXT_ENDPOINT;
const node = values.node ?? env.EIAAS_NODE_NAME;

/** A number option in (min, max] (or [min, max] when `inclusive`), or undefined when absent. */
function decimal(name: string, raw: string | undefined, min: number, max: number, inclusive: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === "" || !(inclusive ? n >= min : n > min) || !(n <= max)) fail(`${name}: "${raw}" is not a number in ${inclusive ? "[" : "("}${min}, ${max}]`);
  return n;
}
const cacheEntries = integer("--cache-max-entries", values["cache-max-entries"] ?? env.EIAAS_CACHE_MAX_ENTRIES, 1, 100_000);
const cacheTtl = decimal("--cache-ttl", values["cache-ttl"] ?? env.EIAAS_CACHE_TTL_SECONDS, 0, 86_400, false);
if ((cacheEntries === undefined) !== (cacheTtl === undefined)) fail("caching needs both --cache-max-entries and --cache-ttl (EIAAS_CACHE_MAX_ENTRIES, EIAAS_CACHE_TTL_SECONDS)");
const filterThreshold = decimal("--input-filter", values["input-filter"] ?? env.EIAAS_INPUT_FILTER_THRESHOLD, 0, 1e6, true);

// Every argument is checked before any file is read.
const settings = {
  port: integer("--port", values.port ?? env.EIAAS_PORT, 0, 65535, 8080)!,
  host: values.host ?? env.EIAAS_SERVE_HOST ?? "0.0.0.0",
  threads: integer("--threads", values.threads ?? env.EIAAS_THREADS, 1, availableParallelism() * 4, 1)!,
  maxRunning: integer("--max-running", values["max-running"], 1, 1024, 1)!,
  maxWaiting: integer("--max-waiting", values["max-waiting"], 0, 65536, 16)!,
  ...(threshold !== undefined ? { exitThreshold: threshold } : {}),
  ...(next ? { next } : {}),
  ...(node ? { node } : {}),
  ...(layersMatch ? { layers: { from: Number(layersMatch[1]), to: Number(layersMatch[2]) } } : {}),
  ...(cacheEntries !== undefined ? { caching: { maxEntries: cacheEntries, ttlSeconds: cacheTtl! } } : {}),
  ...(filterThreshold !== undefined ? { inputFilter: { threshold: filterThreshold } } : {}),
};
const options: ServingOptions = {
  ...settings,
  model: read("segment", modelFile),
  ...(exitHeadFile ? { exitHead: read("exit head", exitHeadFile) } : {}),
};

let server;
try {
  server = await startServing(options);
} catch (err) {
  fail((err as Error).message);
}
const pipeline = server.pipeline;
console.log(
  JSON.stringify({
    msg: "serving",
    port: server.port,
    model: pipeline.segment.describe(),
    ...(pipeline.exitHead ? { exitHead: pipeline.exitHead.describe(), exitThreshold: pipeline.exitThreshold } : {}),
    ...(pipeline.next ? { next: pipeline.next.endpoint } : {}),
    threads: options.threads,
    ...(options.caching ? { caching: options.caching } : {}),
    ...(options.inputFilter ? { inputFilter: options.inputFilter } : {}),
  }),
);
const running = server;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    void running.close().then(() => process.exit(0));
  });
}
