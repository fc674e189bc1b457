import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { readFile, rename, unlink } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { kindInfo } from "@eiaas/api";
import { ApiRequestError, type AnyObject, type EiaasClient } from "@eiaas/client";
import { CliError } from "../cli/errors.js";
import { buildModel, importFile, parseAccuracy, parseExitHead, parseInputShape, type ExitHeadArg } from "../cli/model-import.js";
import { action, globalFlags, userPath, withSession } from "../cli/session.js";
import { formatObjects, parseOutput } from "../output/printers.js";

const MODEL = kindInfo("Model");

interface ImportOptions {
  filename?: string;
  name?: string;
  input?: string;
  exitHead?: string[];
  accuracy?: string;
  dryRun?: boolean;
  output?: string;
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(userPath(path)));
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
}

async function getModel(client: EiaasClient, namespace: string, name: string): Promise<AnyObject | undefined> {
  try {
    return await client.get(MODEL, name, { namespace });
  } catch (err) {
    if (err instanceof ApiRequestError && err.code === 404) return undefined;
    throw err;
  }
}

export function registerModel(program: Command): void {
  const model = program.command("model").description("Import DNNs from ONNX files and fetch their stored files (artifacts)");
  registerImport(model);
  registerGetArtifact(model);
}

function registerImport(model: Command): void {
  model
    .command("import")
    .description("Create or update a Model from an ONNX file (layer table, input size, exits) and upload the file as its artifact")
    .requiredOption("-f, --filename <MODEL.onnx>", "the ONNX file")
    .requiredOption("--name <name>", "name of the Model")
    .option("--input <shape>", "input shape for a file with dynamic dimensions, e.g. 1x3x224x224")
    .option(
      "--exit-head <spec>",
      "AFTER=HEAD.onnx[@ACCURACY]: an early-exit head reading the cut tensor after layer AFTER, and its accuracy; uploaded as the Model's artifact ?exit=AFTER (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--accuracy <0..1>", "top-1 accuracy of the full model (required for a new Model; kept from the existing one otherwise)")
    .option("--dry-run", "only import and print the Model; contact no server")
    .option("-o, --output <format>", "print the Model: json or yaml")
    .addHelpText(
      "after",
      "\nExamples:\n  eictl model import -f resnet18.onnx --name resnet18 --accuracy 0.6976\n  eictl model import -f mobilenetv2.onnx --name mobilenetv2 --exit-head 9=mobilenetv2.exit9.onnx@0.61\n  eictl model import -f net.onnx --name net --input 1x3x224x224 --accuracy 0.7 --dry-run -o yaml",
    )
    .action(action(importModel));
}

/** `eictl model import`: the Model built from the file, created or replaced, then its artifacts uploaded. */
async function importModel(opts: ImportOptions, cmd: Command): Promise<void> {
  const format = opts.output === undefined ? undefined : parseOutput(opts.output, ["json", "yaml"]);
  const inputShape = opts.input !== undefined ? parseInputShape(opts.input) : undefined;
  const accuracy = opts.accuracy !== undefined ? parseAccuracy(opts.accuracy) : undefined;
  const heads: ExitHeadArg[] = (opts.exitHead ?? []).map(parseExitHead);
  const file = opts.filename!;
  const bytes = await readInput(file, "the ONNX file");
  const imported = importFile(file, bytes, inputShape);
  const exitHeads = await Promise.all(heads.map(async (h) => ({ ...h, bytes: await readInput(h.file, "the exit head") })));
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const summary = `${imported.layers.length} layers, sha256 ${sha256}`;
  const print = (obj: object, line: string) => void process.stdout.write(format ? formatObjects([obj], format, false) : `${line}\n`);
  if (opts.dryRun) {
    const namespace = globalFlags(cmd).namespace ?? "default";
    const { object } = buildModel({ name: opts.name!, namespace, imported, bytes, exitHeads, ...(inputShape ? { inputShape } : {}), ...(accuracy !== undefined ? { accuracy } : {}) });
    return print(object, `model.eiaas.io/${opts.name} imported (${summary}) (dry run)`);
  }
  await withSession(cmd, async (s) => {
    const existing = await getModel(s.client, s.namespace, opts.name!);
    const { object, notes } = buildModel({
      name: opts.name!,
      namespace: s.namespace,
      imported,
      bytes,
      exitHeads,
      ...(inputShape ? { inputShape } : {}),
      ...(accuracy !== undefined ? { accuracy } : {}),
      ...(existing ? { existing } : {}),
    });
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    if (existing) await s.client.replace(MODEL, object, { namespace: s.namespace });
    else await s.client.create(MODEL, object, { namespace: s.namespace });
    const stored = await uploadArtifacts(s.client, s.namespace, opts.name!, { bytes, sha256 }, exitHeads);
    const headCount = exitHeads.length ? `, ${exitHeads.length} exit head(s)` : "";
    print(stored, `model.eiaas.io/${opts.name} imported (${summary}${headCount})`);
  });
}

/**
 * Uploads the model's file, then each exit's head as a file of its own (?exit=N, fetched by the
 * agents that serve it), checking the digest the server recorded for each. Answers the Model.
 */
async function uploadArtifacts(
  client: EiaasClient,
  namespace: string,
  name: string,
  model: { bytes: Uint8Array; sha256: string },
  exitHeads: ReadonlyArray<ExitHeadArg & { bytes: Uint8Array }>,
): Promise<AnyObject> {
  let stored = await client.putModelArtifact(namespace, name, model.bytes);
  if (stored.status?.artifact?.sha256 !== model.sha256) throw new CliError(`the server recorded sha256 ${stored.status?.artifact?.sha256 ?? "none"} for the upload of ${model.sha256}; import again`);
  for (const h of exitHeads) {
    stored = await client.putModelArtifact(namespace, name, h.bytes, { exit: h.afterLayer });
    const digest = createHash("sha256").update(h.bytes).digest("hex");
    const recorded = (stored.status?.exitArtifacts ?? []).find((e: { afterLayer?: number }) => e.afterLayer === h.afterLayer)?.sha256;
    if (recorded !== digest) throw new CliError(`the server recorded sha256 ${recorded ?? "none"} for the upload of exit head ${h.file} (${digest}); import again`);
  }
  return stored;
}

function registerGetArtifact(model: Command): void {
  model
    .command("get-artifact")
    .argument("<name>", "name of the Model")
    .description("Download a Model's stored ONNX file, verified against its digest")
    .requiredOption("-o, --output <file>", "where to write it")
    .action(
      action(async (name: string, opts: { output: string }, cmd: Command) => {
        const target = userPath(opts.output);
        await withSession(cmd, async (s) => {
          const got = await s.client.getModelArtifact(s.namespace, name);
          if (got.notModified) throw new CliError("the server answered 304 to an unconditional request");
          // Written beside the target and renamed into place once its digest is checked.
          const tmp = `${target}.${randomUUID()}.part`;
          const hash = createHash("sha256");
          got.stream.on("data", (c: Buffer) => hash.update(c));
          try {
            await pipeline(got.stream, createWriteStream(tmp, { mode: 0o644 }));
            const digest = hash.digest("hex");
            if (digest !== got.sha256) throw new CliError(`the download of model ${s.namespace}/${name} is damaged or was replaced meanwhile (sha256 ${digest}, expected ${got.sha256}); try again`);
            await rename(tmp, target);
          } catch (err) {
            await unlink(tmp).catch(() => undefined);
            if (err instanceof CliError) throw err;
            throw new CliError(`could not download the artifact of model ${s.namespace}/${name} to ${opts.output}: ${(err as Error).message}`);
          }
          process.stdout.write(`model.eiaas.io/${name} artifact written to ${opts.output} (${got.sizeBytes} bytes, sha256 ${got.sha256})\n`);
        });
      }),
    );
}
