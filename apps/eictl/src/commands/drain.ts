import type { Command } from "commander";
import { kindInfo } from "@eiaas/api";
import { ApiRequestError, type AnyObject } from "@eiaas/client";
import { parseDuration } from "../cli/duration.js";
import { CliError } from "../cli/errors.js";
import { action, withSession, type Session } from "../cli/session.js";
import { humanDuration } from "../output/age.js";
import { setUnschedulable } from "./cordon.js";

const TASK = kindInfo("Task");
const TERMINAL = new Set(["Succeeded", "Failed"]);

interface DrainOptions {
  timeout: string;
  evict: boolean;
  force?: boolean;
}

function ref(t: AnyObject): string {
  return `${t.metadata.namespace}/${t.metadata.name}`;
}

/** Tasks bound to the node that still run or are about to (not Succeeded or Failed). */
async function activeTasks(s: Session, node: string): Promise<AnyObject[]> {
  const list = await s.client.listAll(TASK, { fieldSelector: `spec.nodeName=${node}` });
  return list.items.filter((t) => !TERMINAL.has(t.status?.phase ?? ""));
}

/**
 * Evicts a task by deleting it: its workload's controller re-plans without the cordoned node and
 * starts a replacement elsewhere (as a ReplicaSet replaces an evicted Pod).
 */
async function evict(s: Session, t: AnyObject): Promise<void> {
  try {
    await s.client.delete(TASK, t.metadata.name, { namespace: t.metadata.namespace!, preconditions: { uid: t.metadata.uid } });
    process.stdout.write(`task ${ref(t)} evicted\n`);
  } catch (err) {
    // Gone already, or replaced under the same name: nothing left to evict.
    if (err instanceof ApiRequestError && (err.code === 404 || err.code === 409)) return;
    throw err;
  }
}

/**
 * `drain NODE`, as kubectl's: cordon it, evict the tasks bound to it that a workload owns (the
 * scheduler places their work elsewhere), and wait until no unfinished task is bound to it, printing
 * each task as it leaves. Tasks no workload owns are only waited for, unless --force. The API is
 * listed every half second, so a task re-bound elsewhere is noticed as well as one that finished.
 */
async function drain(s: Session, node: string, opts: DrainOptions, timeoutMs: number, intervalMs: number): Promise<void> {
  process.stdout.write(`${await setUnschedulable(s, node, true)}\n`);
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY;
  const evicted = new Set<string>();
  let previous = new Map<string, string>();
  let first = true;
  for (;;) {
    let tasks = await activeTasks(s, node);
    if (opts.evict) {
      const gone = new Set<string>();
      for (const t of tasks) {
        if (evicted.has(t.metadata.uid)) continue;
        const owned = (t.metadata.ownerReferences ?? []).length > 0;
        if (!owned && !opts.force) continue;
        evicted.add(t.metadata.uid);
        await evict(s, t);
        gone.add(t.metadata.uid);
      }
      tasks = tasks.filter((t) => !gone.has(t.metadata.uid));
    }
    const now = new Map(tasks.map((t) => [ref(t), t.status?.phase ?? "Pending"]));
    for (const [name, phase] of previous) if (!now.has(name)) process.stdout.write(`task ${name} left edgenode/${node} (was ${phase})\n`);
    if (now.size === 0) {
      process.stdout.write(`edgenode/${node} drained\n`);
      return;
    }
    const changed = first || now.size !== previous.size || [...now].some(([k, v]) => previous.get(k) !== v);
    if (changed) {
      const shown = [...now].map(([k, v]) => `${k} (${v})`).join(", ");
      process.stdout.write(`waiting for ${now.size} task(s) to leave edgenode/${node}: ${shown}\n`);
    }
    if (Date.now() >= deadline) {
      throw new CliError(
        `timed out after ${humanDuration(timeoutMs)} with ${now.size} task(s) still on edgenode/${node}: ${[...now.keys()].join(", ")} (the node stays cordoned; 'eictl uncordon ${node}' undoes it)`,
      );
    }
    previous = now;
    first = false;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

export function registerDrain(program: Command): void {
  program
    .command("drain")
    .argument("<node>", "EdgeNode name")
    .description("Cordon a node, evict the tasks workloads own (they are re-planned elsewhere) and wait until none is left")
    .option("--timeout <duration>", "how long to wait (0: no limit)", "5m")
    .option("--no-evict", "only cordon and wait: leave moving the tasks to the scheduler")
    .option("--force", "also evict tasks no workload owns (they are not replaced)")
    .action(
      action(async (node: string, opts: DrainOptions, cmd: Command) => {
        const timeoutMs = parseDuration(opts.timeout, "--timeout");
        await withSession(cmd, (s) => drain(s, node, opts, timeoutMs, 500));
      }),
    );
}
