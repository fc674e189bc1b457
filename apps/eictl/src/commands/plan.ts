import type { Command } from "commander";
import { edgeNodeObject, inferenceServiceObject, issuesToCauses, modelObject, tenantObject, trainingJobObject, type KindName } from "@eiaas/api";
import { buildSnapshot, planWorkloads, type Workload, type WorkloadResult } from "@eiaas/scheduling";
import { CliError } from "../cli/errors.js";
import { readManifests, type Manifest } from "../cli/manifests.js";
import { action, globalFlags } from "../cli/session.js";
import { asList, parseOutput, toJson, toYaml } from "../output/printers.js";
import { formatTable } from "../output/table.js";

interface PlanOptions {
  filename?: string[];
  recursive?: boolean;
  output?: string;
}

/** The kinds `eictl plan` reads, each with the schema that types it. */
const SCHEMAS = {
  EdgeNode: edgeNodeObject,
  Tenant: tenantObject,
  Model: modelObject,
  InferenceService: inferenceServiceObject,
  TrainingJob: trainingJobObject,
} as const;
type PlanKind = keyof typeof SCHEMAS;
const KINDS: readonly PlanKind[] = ["EdgeNode", "Tenant", "Model", "InferenceService", "TrainingJob"];
const isPlanKind = (kind: KindName): kind is PlanKind => KINDS.some((k) => k === kind);

/**
 * `eictl plan -f FILE...`: the what-if tool (design.md §5). Runs the planners of libs/scheduling
 * offline, without a server, over EdgeNode, Tenant, Model, InferenceService and TrainingJob objects
 * from files, and prints the workloads with their status filled. Nodes count as Ready and
 * unallocated unless their status says otherwise; Tenants are optional. Exits 0 whenever the files
 * are valid, Unschedulable workloads included, and 1 (one `error:` line) for invalid input.
 */
export function registerPlan(program: Command): void {
  program
    .command("plan")
    .description("Plan workloads offline from manifest files (EdgeNodes, Models, InferenceServices, TrainingJobs), without a server")
    .option("-f, --filename <path...>", "file, directory or - for stdin (repeatable)")
    .option("-R, --recursive", "also read the subdirectories of a directory")
    .option("-o, --output <format>", "output format: table, json or yaml", "table")
    .addHelpText("after", "\nExamples:\n  eictl plan -f deploy/examples/\n  eictl plan -f fleet.yaml -f camera.yaml -o json")
    .action(
      action(async (opts: PlanOptions, cmd: Command) => {
        if (!opts.filename?.length) throw new CliError("must specify -f FILE: give a file, a directory or - for stdin");
        const format = parseOutput(opts.output, ["table", "json", "yaml"]);
        const manifests = await readManifests(opts.filename, opts.recursive === true);
        const results = planManifests(manifests, globalFlags(cmd).namespace ?? "default", new Date().toISOString());
        const items = results.map((r) => ({ ...r.workload, status: r.status }));
        if (format === "json") process.stdout.write(toJson(asList(items)));
        else if (format === "yaml") process.stdout.write(toYaml(asList(items)));
        else process.stdout.write(planTable(results));
      }),
    );
}

/** A validated object of one of those kinds (defaults applied), with its name. */
type PlanObject = ReturnType<(typeof SCHEMAS)[PlanKind]["parse"]> & { metadata: { name: string } };

/** `object` parsed by its kind's schema, with `namespace` filled in for a namespaced kind. */
function validate(m: Manifest, kind: PlanKind, namespace: string): PlanObject {
  const parsed = SCHEMAS[kind].safeParse(m.object);
  if (!parsed.success) {
    throw new CliError(
      `${m.source}: ${issuesToCauses(parsed.error)
        .map((c) => `${c.field}: ${c.message}`)
        .join("; ")}`,
    );
  }
  const object = parsed.data;
  const name = object.metadata.name;
  // readManifests refused objects without a name already (generateName needs a server).
  if (name === undefined) throw new CliError(`${m.source}: metadata.name: required`);
  if (m.kind.namespaced) object.metadata.namespace ??= namespace;
  return { ...object, metadata: { ...object.metadata, name } };
}

/**
 * Validates the objects with the libs/api schemas (defaults applied), builds the Snapshot and plans
 * every workload in one cycle. The first invalid object stops everything with `SOURCE: field: message`.
 */
export function planManifests(manifests: readonly Manifest[], namespace: string, now: string): WorkloadResult[] {
  const valid: PlanObject[] = [];
  const seen = new Map<string, string>();
  for (const m of manifests) {
    const kind = m.kind.kind;
    if (!isPlanKind(kind)) throw new CliError(`${m.source}: kind: eictl plan reads ${KINDS.join(", ")}, not ${kind}`);
    const object = validate(m, kind, namespace);
    const key = `${kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`;
    const first = seen.get(key);
    if (first !== undefined) throw new CliError(`${m.source}: metadata.name: duplicate ${kind} "${object.metadata.name}" (also in ${first})`);
    seen.set(key, m.source);
    valid.push(object);
  }
  const snapshot = buildSnapshot({
    nodes: valid.flatMap((o) => (o.kind === "EdgeNode" ? [o] : [])),
    tenants: valid.flatMap((o) => (o.kind === "Tenant" ? [o] : [])),
  });
  // In input order: the results come back in the order of the workloads given.
  const workloads: Workload[] = valid.flatMap((o) => (o.kind === "InferenceService" || o.kind === "TrainingJob" ? [o] : []));
  return planWorkloads(snapshot, { models: valid.flatMap((o) => (o.kind === "Model" ? [o] : [])), workloads, now });
}

const INFERENCE_HEADER = ["NAMESPACE", "WORKLOAD", "STATUS", "CLIENT", "ARCHITECTURE", "SPLIT", "HEAD", "TAIL", "EXIT", "VARIANT", "LATENCY(MS)", "ENERGY(MJ)", "ACCURACY"];
const TRAINING_HEADER = ["NAMESPACE", "WORKLOAD", "STATUS", "MODE", "PARTICIPANTS", "AGGREGATOR", "LOCAL-STEPS"];

/** One row per client of each InferenceService, one per TrainingJob, then why Pending ones are. */
export function planTable(results: readonly WorkloadResult[]): string {
  const inference: string[][] = [];
  const training: string[][] = [];
  const pending: string[] = [];
  for (const r of results) {
    const ns = r.workload.metadata.namespace ?? "default";
    const name = `${r.kind === "InferenceService" ? "isvc" : "tj"}/${r.workload.metadata.name}`;
    const phase = r.status.phase ?? "";
    if (r.result.status === "Unschedulable") pending.push(`${name}: Unschedulable: ${r.result.message}`);
    if (r.kind === "InferenceService") {
      const clients = r.result.status === "Scheduled" ? r.result.clients : [];
      if (clients.length === 0) inference.push([ns, name, phase, ...Array<string>(10).fill("-")]);
      for (const c of clients) {
        const p = c.predicted;
        inference.push([
          ns,
          name,
          phase,
          c.client,
          c.architecture,
          String(c.split),
          c.headNode ?? "-",
          c.tailNode ?? "-",
          String(c.exitAfterLayer),
          c.variant,
          num(p.latencyMs, 2),
          num(p.deviceEnergyMj, 2),
          num(p.accuracy, 3),
        ]);
      }
    } else {
      const p = r.result.status === "Scheduled" ? r.result.plan : undefined;
      const mode = (r.workload.spec as { mode: string }).mode;
      training.push([ns, name, phase, mode, p ? p.participants.join(",") : "-", p?.aggregator ?? "-", p?.localSteps !== undefined ? String(p.localSteps) : "-"]);
    }
  }
  const parts: string[] = [];
  if (inference.length > 0) parts.push(formatTable(inference, { header: INFERENCE_HEADER }));
  if (training.length > 0) parts.push(formatTable(training, { header: TRAINING_HEADER }));
  if (pending.length > 0) parts.push(`${pending.join("\n")}\n`);
  return parts.length > 0 ? parts.join("\n") : "No workloads found in the files.\n";
}

/** At most `digits` decimals, no trailing zeros. */
function num(n: number, digits: number): string {
  if (!Number.isFinite(n)) return "-";
  return Number.isInteger(n) ? String(n) : n.toFixed(digits).replace(/\.?0+$/, "");
}
