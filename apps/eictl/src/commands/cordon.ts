import type { Command } from "commander";
import { kindInfo } from "@eiaas/api";
import { action, withSession, type Session } from "../cli/session.js";

const EDGE_NODE = kindInfo("EdgeNode");

/** Marks a node (un)schedulable with a merge patch of `spec.unschedulable`; answers the line to print. */
export async function setUnschedulable(s: Session, name: string, unschedulable: boolean): Promise<string> {
  const node = await s.client.get(EDGE_NODE, name);
  const verb = unschedulable ? "cordoned" : "uncordoned";
  if ((node.spec?.unschedulable === true) === unschedulable) return `edgenode/${name} already ${verb}`;
  await s.client.patch(EDGE_NODE, name, { spec: { unschedulable } });
  return `edgenode/${name} ${verb}`;
}

export function registerCordon(program: Command): void {
  for (const [verb, value, text] of [
    ["cordon", true, "Mark nodes unschedulable: nothing new is placed on them, running tasks stay"],
    ["uncordon", false, "Mark nodes schedulable again"],
  ] as const) {
    program
      .command(verb)
      .argument("<nodes...>", "EdgeNode names")
      .description(text)
      .action(
        action(async (nodes: string[], _opts: unknown, cmd: Command) => {
          await withSession(cmd, async (s) => {
            for (const n of nodes) process.stdout.write(`${await setUnschedulable(s, n, value)}\n`);
          });
        }),
      );
  }
}
