import type { Command } from "commander";
import { ONNX_INPUT_SHAPE_ANNOTATION } from "@eiaas/api";
import { ApiRequestError, type EiaasClient } from "@eiaas/client";
import { CliError } from "../cli/errors.js";
import { EntryConnection, type InferReply } from "../cli/infer-call.js";
import { checkFits, fixedShape, parseShapeAnnotation, randomTensor, readInputFile, type InputTensor, type ModelDim } from "../cli/infer-input.js";
import { action, userPath, withSession } from "../cli/session.js";
import { inferText, medianTimes, stagesOf, timesOf, top5, type InferSummary } from "../output/infer.js";
import { parseOutput, toJson } from "../output/printers.js";

interface InferOptions {
  client: string;
  filename?: string;
  random?: boolean;
  seed: string;
  count: string;
  output?: string;
  /** False with --no-report. */
  report: boolean;
}

/** Most requests one command sends. */
const MAX_COUNT = 10_000;

/**
 * `eictl infer SERVICE --client NODE (-f INPUT | --random)`: runs the client's current plan for
 * real. The entry (the task at the start of the client's plan) comes from the discovery API
 * (`.../inferenceservices/{name}/entry?client=`); the input goes there as the client would send it
 * and the answer comes back with each stage's timings.
 */
export function registerInfer(program: Command): void {
  program
    .command("infer")
    .argument("<service>", "name of the InferenceService")
    .description("Run an input through a client's current plan for real: the answer (top-5), which nodes ran which layers, measured and predicted times")
    .requiredOption("--client <node>", "the client node whose plan runs (its entry point is where the input goes)")
    .option("-f, --filename <file>", "the input: .npy (float32/float64), .json ({shape, data} or a nested array) or raw float32 little-endian bytes of the model's input shape")
    .option("--random", "a seeded random input of the model's input shape (values in [0,1))")
    .option("--seed <n>", "seed of --random (request i of --count uses seed + i)", "1")
    .option("--count <n>", "send N requests and print the medians", "1")
    .option("-o, --output <format>", "output format: json (default: text)")
    .option("--no-report", "do not report the measured latency to the service (status.measured, which re-plans a client measured over 20% off its prediction)")
    .addHelpText("after", "\nExamples:\n  eictl infer camera-classifier --client device-03 --random\n  eictl infer camera-classifier --client device-03 -f frame.npy --count 20 -o json")
    .action(
      action(async (service: string, opts: InferOptions, cmd: Command) => {
        const format = opts.output === undefined ? "text" : parseOutput(opts.output, ["json"]);
        if ((opts.filename === undefined) === (opts.random !== true)) throw new CliError("give the input: -f FILE or --random (one of them)");
        const count = integerOption("--count", opts.count, 1, MAX_COUNT);
        const seed = integerOption("--seed", opts.seed, 0, 2 ** 32 - 1);
        await withSession(cmd, async (s) => {
          const found = await s.client.serviceEntry(s.namespace, service, opts.client);
          const entry = found.entry;
          const where = `the entry of ${service} for ${opts.client} (${entry.role}${entry.task ? ` task ${entry.task}` : ""} on ${entry.node})`;
          if (!entry.task) throw new CliError(`${where} has no task yet: the plan's tasks are being created`);
          if (!entry.address) throw new CliError(`${where} is not serving yet (phase ${entry.phase ?? "unknown"})`);
          const conn = new EntryConnection(entry.address, `${where} at ${entry.address}`);
          try {
            const dims = await conn.inputDims();
            const inputs = await inputsFor(opts, s.client, s.namespace, service, dims, seed, count);
            const replies: InferReply[] = [];
            for (let i = 0; i < count; i++) replies.push(await conn.infer(inputs(i), opts.client));
            const summary = summarize(found.service, opts.client, { ...entry, address: entry.address }, found.plan, replies);
            process.stdout.write(format === "json" ? toJson(summary) : inferText(summary));
            if (opts.report) await reportLatency(s.client, s.namespace, found.service, opts.client, replies);
          } finally {
            conn.close();
          }
        });
      }),
    );
}

/**
 * The client's measured end-to-end latency (median over the answers its plan computed; reused
 * ones are the cache's or the filter's, not the plan's) reported to the service as a client's
 * agent would (`status.measured`): what `eictl describe isvc` shows beside the prediction, and
 * what re-plans a client measured more than 20% off it. A refused report is one line on stderr;
 * the answer was printed and the command succeeds.
 */
async function reportLatency(client: EiaasClient, namespace: string, service: string, node: string, replies: InferReply[]): Promise<void> {
  const computed = replies.filter((r) => !r.timings?.reused).map(timesOf);
  if (!computed.length) return;
  const latencyMs = medianTimes(computed).totalMs;
  try {
    await client.reportClientLatency(namespace, service, { client: node, latencyMs, count: computed.length });
  } catch (err) {
    if (!(err instanceof ApiRequestError)) throw err;
    process.stderr.write(`eictl: the measured latency was not reported to ${service}: ${err.message.split("\n")[0]}\n`);
  }
}

function integerOption(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) throw new CliError(`invalid ${flag} "${text}": expected an integer between ${min} and ${max}`);
  return n;
}

/** The input of request i: the file's tensor each time, or the random tensor of seed + i. */
async function inputsFor(opts: InferOptions, client: EiaasClient, namespace: string, service: string, dims: ModelDim[] | undefined, seed: number, count: number): Promise<(i: number) => InputTensor> {
  if (opts.filename !== undefined) {
    const t = await readInputFile(userPath(opts.filename), dims);
    return () => t;
  }
  const shape = fixedShape(dims) ?? (await annotatedShape(client, namespace, service));
  if (!shape) throw new CliError(`--random needs the model's input shape, which has open dims [${(dims ?? []).join(",")}]: import the model with --input, or give -f FILE`);
  checkFits("the Model's eiaas.io/onnx-input-shape", { shape, data: new Float32Array(0) }, dims);
  // Made once each: with --count, the requests differ (a cache would answer the same input).
  const made = new Map<number, InputTensor>();
  return (i) => {
    if (!made.has(i) && made.size < Math.min(count, 64)) made.set(i, randomTensor(shape, (seed + i) >>> 0));
    return made.get(i) ?? randomTensor(shape, (seed + i) >>> 0);
  };
}

/** The shape the Model was imported with (`eictl model import --input`), when its file has open dims. */
async function annotatedShape(client: EiaasClient, namespace: string, service: string): Promise<number[] | undefined> {
  try {
    const svc = await client.get("isvc", service, { namespace });
    const model = await client.get("models", String(svc.spec?.model ?? ""), { namespace });
    return parseShapeAnnotation(model.metadata.annotations?.[ONNX_INPUT_SHAPE_ANNOTATION]);
  } catch (err) {
    if (err instanceof ApiRequestError) return undefined;
    throw err;
  }
}

function summarize(service: string, client: string, entry: InferSummary["entry"], plan: InferSummary["plan"], replies: InferReply[]): InferSummary {
  const last = replies.at(-1)!;
  const reused = { cache: 0, filter: 0 };
  for (const r of replies) if (r.timings?.reused) reused[r.timings.reused]++;
  return {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "InferenceResult",
    service,
    client,
    entry: { node: entry.node, role: entry.role, ...(entry.task ? { task: entry.task } : {}), address: entry.address },
    plan,
    output: { shape: last.shape, top5: top5(last) },
    ...(last.exit ? { exit: last.exit } : {}),
    stages: stagesOf(last.timings),
    requests: replies.length,
    reused,
    measured: medianTimes(replies.map(timesOf)),
    predicted: { latencyMs: plan.predicted.latencyMs },
  };
}
