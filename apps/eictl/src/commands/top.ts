import type { Command } from "commander";
import { kindInfo } from "@eiaas/api";
import type { AnyObject } from "@eiaas/client";
import { CliError } from "../cli/errors.js";
import { action, withSession, type Session } from "../cli/session.js";
import { colourEnabled } from "../output/style.js";
import { formatTable } from "../output/table.js";

const TERMINAL = new Set(["Succeeded", "Failed"]);

function n(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

function trim(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** `used/limit` and the percentage; an absent or zero limit shows only the use and "-". */
function ratio(used: number, limit: number | undefined): [string, string] {
  if (limit === undefined || limit <= 0) return [trim(used), "-"];
  return [`${trim(used)}/${trim(limit)}`, `${Math.round((used / limit) * 100)}%`];
}

interface TopOptions {
  selector?: string;
  headers: boolean;
  sortBy?: string;
}

function sortRows(rows: Array<{ key: Record<string, number>; cells: string[] }>, by: string | undefined, allowed: string[]): string[][] {
  if (by !== undefined && !allowed.includes(by)) throw new CliError(`--sort-by must be one of ${allowed.join(", ")}`);
  const sorted = by ? [...rows].sort((a, b) => (b.key[by] ?? 0) - (a.key[by] ?? 0)) : rows;
  return sorted.map((r) => r.cells);
}

/** Allocated vs capacity per node (from EdgeNode status.allocated and spec.capacity), load and tasks. */
async function topNodes(s: Session, opts: TopOptions): Promise<void> {
  const nodes = await s.client.listAll(kindInfo("EdgeNode"), opts.selector ? { labelSelector: opts.selector } : {});
  if (nodes.items.length === 0) {
    process.stderr.write("No resources found\n");
    return;
  }
  const tasks = await s.client.listAll(kindInfo("Task"));
  const perNode = new Map<string, number>();
  for (const t of tasks.items) {
    const node = t.spec?.nodeName;
    if (node && !TERMINAL.has(t.status?.phase ?? "")) perNode.set(node, (perNode.get(node) ?? 0) + 1);
  }
  const rows = nodes.items.map((node: AnyObject) => {
    const cap = node.spec?.capacity ?? {};
    const alloc = node.status?.allocated ?? {};
    const [cpu, cpuPct] = ratio(n(alloc.cpu), n(cap.cpu));
    const [mem, memPct] = ratio(n(alloc.memoryMiB), n(cap.memoryMiB));
    const [gpu] = ratio(n(alloc.gpu), n(cap.gpu));
    const count = perNode.get(node.metadata.name) ?? 0;
    return {
      key: { cpu: n(cap.cpu) ? n(alloc.cpu) / n(cap.cpu) : 0, memory: n(cap.memoryMiB) ? n(alloc.memoryMiB) / n(cap.memoryMiB) : 0, load: n(alloc.load), tasks: count },
      cells: [node.metadata.name, node.spec?.tier ?? "", cpu, cpuPct, mem, memPct, gpu, n(alloc.load).toFixed(2), String(count)],
    };
  });
  const header = ["NAME", "TIER", "CPU(m)", "CPU%", "MEMORY(Mi)", "MEMORY%", "GPU", "LOAD", "TASKS"];
  process.stdout.write(formatTable(sortRows(rows, opts.sortBy, ["cpu", "memory", "load", "tasks"]), { ...(opts.headers ? { header } : {}), colour: colourEnabled() }));
}

/** Usage vs quota per tenant (status.usage, spec.quota) and the dominant resource share. */
async function topTenants(s: Session, opts: TopOptions): Promise<void> {
  const tenants = await s.client.listAll(kindInfo("Tenant"), opts.selector ? { labelSelector: opts.selector } : {});
  if (tenants.items.length === 0) {
    process.stderr.write("No resources found\n");
    return;
  }
  const rows = tenants.items.map((t: AnyObject) => {
    const q = t.spec?.quota ?? {};
    const u = t.status?.usage ?? {};
    const [cpu, cpuPct] = ratio(n(u.cpu), q.cpu);
    const [mem, memPct] = ratio(n(u.memoryMiB), q.memoryMiB);
    const [gpu] = ratio(n(u.gpu), q.gpu);
    const [tasks] = ratio(n(u.tasks), q.tasks);
    const share = n(t.status?.dominantShare);
    return {
      key: { cpu: n(u.cpu), memory: n(u.memoryMiB), tasks: n(u.tasks), share },
      cells: [t.metadata.name, cpu, cpuPct, mem, memPct, gpu, tasks, share.toFixed(3), trim(n(t.spec?.weight ?? 1))],
    };
  });
  const header = ["NAME", "CPU(m)", "CPU%", "MEMORY(Mi)", "MEMORY%", "GPU", "TASKS", "DOMINANT-SHARE", "WEIGHT"];
  process.stdout.write(formatTable(sortRows(rows, opts.sortBy, ["cpu", "memory", "tasks", "share"]), opts.headers ? { header } : {}));
}

export function registerTop(program: Command): void {
  const top = program.command("top").description("Show resource use: nodes (allocated vs capacity) or tenants (usage vs quota)");
  top
    .command("nodes")
    .alias("node")
    .description("Allocated vs capacity, load and task count per EdgeNode")
    .option("-l, --selector <selector>", "label selector")
    .option("--no-headers", "omit the header line")
    .option("--sort-by <field>", "cpu, memory, load or tasks (highest first)")
    .action(action(async (opts: TopOptions, cmd: Command) => withSession(cmd, (s) => topNodes(s, opts))));
  top
    .command("tenants")
    .alias("tenant")
    .description("Usage vs quota and dominant resource share per tenant")
    .option("-l, --selector <selector>", "label selector")
    .option("--no-headers", "omit the header line")
    .option("--sort-by <field>", "cpu, memory, tasks or share (highest first)")
    .action(action(async (opts: TopOptions, cmd: Command) => withSession(cmd, (s) => topTenants(s, opts))));
}
