import type { Command } from "commander";
import { kindInfo } from "@eiaas/api";
import type { AnyObject } from "@eiaas/client";
import { parseDuration } from "../cli/duration.js";
import { CliError } from "../cli/errors.js";
import { action, withSession, type Session } from "../cli/session.js";
import { humanDuration } from "../output/age.js";
import { setUnschedulable } from "./cordon.js";

const TASK = kindInfo("Task");
const TERMINAL = new Set(["Succeeded", "Failed"]);

function ref(t: AnyObject): string {
  return `${t.metadata.namespace}/${t.metadata.name}`;
}

/** Tasks bound to the node that still run or are about to (not Succeeded or Failed). */
async function activeTasks(s: Session, node: string): Promise<Map<string, string>> {
  const list = await s.client.listAll(TASK, { fieldSelector: `spec.nodeName=${node}` });
  return new Map(list.items.filter((t) => !TERMINAL.has(t.status?.phase ?? "")).map((t) => [ref(t), t.status?.phase ?? "Pending"]));
}

/**
 * `drain NODE`: cordon it, then wait until no non-terminal task is bound to it, printing each task
 * as it leaves. The scheduler moves a cordoned node's work; drain reports what the API shows (a
 * list every half second, so a task re-bound elsewhere is noticed as well as one that finished).
 */
async function drain(s: Session, node: string, timeoutMs: number, intervalMs: number): Promise<void> {
  process.stdout.write(`${await setUnschedulable(s, node, true)}\n`);
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY;
  let previous = new Map<string, string>();
  let first = true;
  for (;;) {
    const now = await activeTasks(s, node);
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
      throw new CliError(`timed out after ${humanDuration(timeoutMs)} with ${now.size} task(s) still on edgenode/${node}: ${[...now.keys()].join(", ")} (the node stays cordoned; 'eictl uncordon ${node}' undoes it)`);
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
    .description("Cordon a node, then wait until the tasks bound to it have moved away or finished")
    .option("--timeout <duration>", "how long to wait (0: no limit)", "5m")
    .action(
      action(async (node: string, opts: { timeout: string }, cmd: Command) => {
        const timeoutMs = parseDuration(opts.timeout, "--timeout");
        await withSession(cmd, (s) => drain(s, node, timeoutMs, 500));
      }),
    );
}
