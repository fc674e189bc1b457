import type { Command } from "commander";
import { kindInfo, LAST_APPLIED_ANNOTATION, type KindInfo } from "@eiaas/api";
import { ApiRequestError, type AnyObject } from "@eiaas/client";
import { CliError, reportError } from "../cli/errors.js";
import { action, withSession, type Session } from "../cli/session.js";
import { age } from "../output/age.js";
import { DescribeWriter, pairs } from "../output/describe-writer.js";
import { describeKind } from "./describe-kinds.js";
import { kindArg, namespaceFor } from "./objects.js";

const TASK = kindInfo("Task");
const EVENT = kindInfo("Event");

/** The tasks an object owns (by ownerReferences uid), or for a node the tasks bound to it. */
async function tasksOf(s: Session, obj: AnyObject): Promise<AnyObject[]> {
  if (obj.kind === "EdgeNode") return (await s.client.listAll(TASK, { fieldSelector: `spec.nodeName=${obj.metadata.name}` })).items;
  if (obj.kind !== "InferenceService" && obj.kind !== "TrainingJob") return [];
  const all = await s.client.listAll(TASK, { namespace: obj.metadata.namespace! });
  return all.items.filter((t) => (t.metadata.ownerReferences ?? []).some((r) => r.uid === obj.metadata.uid));
}

/** Events about the object: by involvedObject name and kind (all namespaces for cluster-scoped kinds). */
async function eventsOf(s: Session, kind: KindInfo, obj: AnyObject): Promise<any[]> {
  const fieldSelector = `involvedObject.name=${obj.metadata.name},involvedObject.kind=${kind.kind}`;
  const list = await s.client.listAll(EVENT, { ...(kind.namespaced ? { namespace: obj.metadata.namespace! } : {}), fieldSelector });
  const at = (e: any) => Date.parse(e.lastTimestamp ?? e.metadata?.creationTimestamp ?? "") || 0;
  return list.items.sort((a, b) => at(a) - at(b));
}

function eventAge(e: any): string {
  const last = e.lastTimestamp ?? e.metadata?.creationTimestamp;
  if ((e.count ?? 1) > 1 && e.firstTimestamp) return `${age(last)} (x${e.count} over ${age(e.firstTimestamp)})`;
  return age(last);
}

async function describeOne(s: Session, kind: KindInfo, obj: AnyObject): Promise<string> {
  const w = new DescribeWriter();
  w.fields([
    ["Name", obj.metadata.name],
    ["Namespace", kind.namespaced ? obj.metadata.namespace : undefined],
    ["Labels", pairs(obj.metadata.labels)],
    ["Annotations", pairs(obj.metadata.annotations, [LAST_APPLIED_ANNOTATION])],
    ["Kind", obj.kind],
    ["Created", obj.metadata.creationTimestamp ? `${obj.metadata.creationTimestamp} (${age(obj.metadata.creationTimestamp)} ago)` : undefined],
    ["Deleting since", obj.metadata.deletionTimestamp],
  ]);
  describeKind(w, obj);
  const tasks = await tasksOf(s, obj);
  if (kind.kind === "EdgeNode" || kind.kind === "InferenceService" || kind.kind === "TrainingJob") {
    w.table(
      "Tasks",
      ["NAME", ...(kind.kind === "EdgeNode" ? ["NAMESPACE"] : []), "ROLE", "NODE", "PHASE", "LAYERS", "AGE"],
      tasks.map((t) => [
        t.metadata.name,
        ...(kind.kind === "EdgeNode" ? [t.metadata.namespace ?? ""] : []),
        t.spec?.role ?? "",
        t.spec?.nodeName ?? "<none>",
        t.status?.phase ?? "Pending",
        t.spec?.layers ? `${t.spec.layers.from}..${t.spec.layers.to}` : "-",
        age(t.metadata.creationTimestamp),
      ]),
    );
  }
  if (kind.hasStatus) {
    const conds: any[] = obj.status?.conditions ?? [];
    w.table(
      "Conditions",
      ["TYPE", "STATUS", "REASON", "MESSAGE", "AGE"],
      conds.map((c) => [c.type, c.status, c.reason || "-", c.message || "-", c.lastTransitionTime ? age(c.lastTransitionTime) : "-"]),
    );
  }
  if (kind.kind !== "Event") {
    const events = await eventsOf(s, kind, obj);
    w.table(
      "Events",
      ["TYPE", "REASON", "AGE", "FROM", "MESSAGE"],
      events.map((e) => [e.type ?? "Normal", e.reason ?? "", eventAge(e), e.source?.component ?? "-", e.message ?? ""]),
    );
  }
  return w.toString();
}

export function registerDescribe(program: Command): void {
  program
    .command("describe")
    .argument("<kind>", "kind: plural, singular or short name")
    .argument("[names...]", "objects to describe (default: all of the kind, or those matching -l)")
    .description("Show details of objects: spec summary, plan, tasks, conditions and events")
    .option("-l, --selector <selector>", "describe the objects matching this label selector")
    .addHelpText("after", "\nExamples:\n  eictl describe isvc camera\n  eictl describe node edge-1\n  eictl describe tj -l team=vision")
    .action(
      action(async (kindName: string, names: string[], opts: { selector?: string }, cmd: Command) => {
        const kind = kindArg(kindName);
        await withSession(cmd, async (s) => {
          const ns = namespaceFor(kind, s);
          let objects: AnyObject[] = [];
          let failed = false;
          if (names.length === 0) {
            objects = (await s.client.listAll(kind, { ...(ns !== undefined ? { namespace: ns } : {}), ...(opts.selector ? { labelSelector: opts.selector } : {}) })).items;
            if (objects.length === 0) process.stderr.write(ns !== undefined ? `No resources found in ${ns} namespace.\n` : "No resources found\n");
          } else {
            if (s.allNamespaces && kind.namespaced) throw new CliError("a resource cannot be retrieved by name across all namespaces: give -n NAMESPACE");
            for (const name of names) {
              try {
                objects.push(await s.client.get(kind, name, ns !== undefined ? { namespace: ns } : {}));
              } catch (err) {
                if (!(err instanceof ApiRequestError)) throw err;
                reportError(err);
                failed = true;
              }
            }
          }
          const texts: string[] = [];
          for (const o of objects) texts.push(await describeOne(s, kind, o));
          // kubectl separates several objects with a blank line.
          process.stdout.write(texts.join("\n"));
          if (failed) process.exitCode = 1;
        });
      }),
    );
}
