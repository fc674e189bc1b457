import type { Command } from "commander";
import { ApiRequestError, type AnyObject } from "@eiaas/client";
import { applyPatch, withLastApplied } from "../cli/apply-patch.js";
import { parseDuration } from "../cli/duration.js";
import { CliError, reportError } from "../cli/errors.js";
import { manifestNamespace, readManifests, type Manifest } from "../cli/manifests.js";
import { action, globalFlags, withSession, type Session } from "../cli/session.js";
import { waitable, waitReady } from "../cli/wait.js";
import { inferencePlanTable, trainingPlanLines } from "../output/plan.js";
import { formatObjects, parseOutput, shortRef } from "../output/printers.js";

export interface ApplyOptions {
  filename: string[];
  recursive?: boolean;
  dryRun?: string;
  output?: string;
  wait?: boolean;
  timeout: string;
}

export type DryRun = "none" | "client" | "server";

/** Parses `--dry-run[=none|client|server]` (a bare flag means client, as kubectl). */
export function parseDryRun(v: string | boolean | undefined): DryRun {
  if (v === undefined || v === false || v === "none") return "none";
  if (v === true || v === "client" || v === "") return "client";
  if (v === "server") return "server";
  throw new CliError(`invalid --dry-run "${String(v)}": must be none, client or server`);
}

export function dryRunSuffix(d: DryRun): string {
  return d === "server" ? " (server dry run)" : d === "client" ? " (dry run)" : "";
}

/** What a dry run on the server planned, under the object's line. */
export function printPlan(obj: AnyObject): void {
  if (obj.kind === "InferenceService") {
    const table = inferencePlanTable(obj, "  ");
    if (table) process.stdout.write(`  plan:\n${table}`);
    else if (obj.status?.conditions?.length) {
      for (const c of obj.status.conditions) process.stdout.write(`  ${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ""}${c.message ? `: ${c.message}` : ""}\n`);
    }
  } else if (obj.kind === "TrainingJob") {
    for (const [k, v] of trainingPlanLines(obj)) process.stdout.write(`  ${k}: ${v}\n`);
  }
}

async function getLive(s: Session, m: Manifest, ns: string | undefined): Promise<AnyObject | undefined> {
  try {
    return await s.client.get(m.kind, m.object.metadata.name, ns !== undefined ? { namespace: ns } : {});
  } catch (err) {
    if (err instanceof ApiRequestError && err.code === 404) return undefined;
    throw err;
  }
}

type Outcome = "created" | "configured" | "unchanged";

/** Applies one object: create when absent, merge-patch when it differs, nothing when unchanged. */
async function applyOne(s: Session, m: Manifest, ns: string | undefined, dryRun: DryRun): Promise<{ outcome: Outcome; object: AnyObject }> {
  const live = await getLive(s, m, ns);
  const opts = { ...(ns !== undefined ? { namespace: ns } : {}), dryRun: dryRun === "server" };
  if (!live) {
    const body = withLastApplied(m.object);
    const object = dryRun === "client" ? (body as AnyObject) : await s.client.create(m.kind, body, opts);
    return { outcome: "created", object };
  }
  const patch = applyPatch(m.object, live);
  if (!patch) {
    // A server dry run still shows what the scheduler would plan for the object as it is.
    const object = dryRun === "server" && waitable(m.kind) ? await s.client.patch(m.kind, m.object.metadata.name, {}, opts) : live;
    return { outcome: "unchanged", object };
  }
  const object = dryRun === "client" ? live : await s.client.patch(m.kind, m.object.metadata.name, patch, opts);
  return { outcome: "configured", object };
}

/**
 * `apply -f`: every object in dependency order; a failure is reported and the rest still applied
 * (exit code 1 at the end), as kubectl does.
 */
export async function applyManifests(s: Session, cmd: Command, opts: ApplyOptions): Promise<void> {
  const dryRun = parseDryRun(opts.dryRun);
  const format = opts.output === undefined ? undefined : parseOutput(opts.output, ["json", "yaml", "name"]);
  const timeoutMs = parseDuration(opts.timeout, "--timeout");
  const manifests = await readManifests(opts.filename, opts.recursive === true);
  const explicitNs = globalFlags(cmd).namespace !== undefined;
  const applied: AnyObject[] = [];
  const toWait: Array<{ m: Manifest; ns: string | undefined }> = [];
  let failed = false;
  for (const m of manifests) {
    try {
      const ns = manifestNamespace(m, s.namespace, explicitNs);
      const { outcome, object } = await applyOne(s, m, ns, dryRun);
      applied.push(object);
      if (!format) {
        process.stdout.write(`${shortRef(m.object)} ${outcome}${dryRunSuffix(dryRun)}\n`);
        if (dryRun === "server") printPlan(object);
      }
      if (opts.wait && dryRun === "none" && waitable(m.kind)) toWait.push({ m, ns });
    } catch (err) {
      if (!(err instanceof ApiRequestError) && !(err instanceof CliError)) throw err;
      reportError(err);
      failed = true;
    }
  }
  if (format) process.stdout.write(formatObjects(applied, format, applied.length !== 1));
  for (const { m, ns } of toWait) {
    const line = `${await waitReady(s, m.kind, ns, m.object.metadata.name, timeoutMs)}\n`;
    // With -o the objects are the output; the readiness lines must not break its parsing.
    (format ? process.stderr : process.stdout).write(line);
  }
  if (failed) process.exitCode = 1;
}

export function registerApply(program: Command): void {
  program
    .command("apply")
    .description("Create or update objects from files: created, configured or unchanged per object")
    .requiredOption("-f, --filename <path...>", "file, directory or - for stdin (YAML with several documents, or JSON)")
    .option("-R, --recursive", "also read the subdirectories of a directory")
    .option("--dry-run [mode]", "server: validate and plan on the server, store nothing; client: only show what would change")
    .option("-o, --output <format>", "print the applied objects: json, yaml or name")
    .option("--wait", "wait until each InferenceService is ready and each TrainingJob has succeeded")
    .option("--timeout <duration>", "how long --wait waits", "5m")
    .addHelpText(
      "after",
      "\nExamples:\n  eictl apply -f deploy/examples/tenant-demo.yaml\n  eictl apply -f deploy/examples/isvc-auto.yaml --dry-run=server\n  eictl apply -f deploy/examples/isvc-edge.yaml --wait --timeout 2m\n  cat isvc.yaml | eictl apply -f -",
    )
    .action(
      action(async (opts: ApplyOptions, cmd: Command) => {
        await withSession(cmd, (s) => applyManifests(s, cmd, opts));
      }),
    );
}
