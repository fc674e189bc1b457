import type { KindInfo } from "@eiaas/api";
import { ApiRequestError, type AnyObject } from "@eiaas/client";
import { humanDuration } from "../output/age.js";
import { shortRef } from "../output/printers.js";
import { CliError } from "./errors.js";
import type { Session } from "./session.js";

/** A progress line on stderr: rewritten in place on a terminal, one line per change otherwise. */
export class Progress {
  private last = "";
  private readonly tty = process.stderr.isTTY === true;

  update(text: string): void {
    if (text === this.last) return;
    this.last = text;
    if (this.tty) process.stderr.write(`\r\u001b[2K${text}`);
    else process.stderr.write(`${text}\n`);
  }

  done(): void {
    if (this.tty && this.last) process.stderr.write("\r\u001b[2K");
    this.last = "";
  }
}

type Verdict = { done: true; text: string } | { done: false; failed?: string; text: string };

function condition(obj: AnyObject, type: string): { status?: string; reason?: string; message?: string } | undefined {
  return (obj.status?.conditions ?? []).find((c: { type: string }) => c.type === type);
}

/** Where a workload stands: Ready (isvc), Succeeded (tj), Failed, or still on its way (and why). */
export function readiness(kind: KindInfo, obj: AnyObject): Verdict {
  const ref = shortRef(obj);
  const phase: string = obj.status?.phase ?? "Pending";
  const blocked = [condition(obj, "Scheduled"), condition(obj, "Ready")].find((c) => c && c.status === "False");
  const why = blocked ? ` (${blocked.reason || "not ready"}${blocked.message ? `: ${blocked.message}` : ""})` : "";
  if (phase === "Failed") {
    const c = condition(obj, "Ready") ?? condition(obj, "Complete") ?? condition(obj, "Scheduled");
    return { done: false, failed: `${ref} failed${c?.reason ? `: ${c.reason}` : ""}${c?.message ? `: ${c.message}` : ""}`, text: `${ref}: Failed` };
  }
  if (kind.kind === "TrainingJob") {
    if (phase === "Succeeded") return { done: true, text: `${ref} succeeded` };
    const round = obj.status?.round !== undefined ? `, round ${obj.status.round}/${obj.spec?.rounds ?? "?"}` : "";
    return { done: false, text: `${ref}: ${phase}${round}${why}` };
  }
  const ready = condition(obj, "Ready");
  if (ready?.status === "True" || (phase === "Running" && !ready)) return { done: true, text: `${ref} is ready (${phase})` };
  const clients = obj.status?.plan?.clients?.length;
  return { done: false, text: `${ref}: ${phase}${clients !== undefined ? `, ${clients} client(s) planned` : ""}${why}` };
}

/** The kinds `--wait` waits for; others are done once written. */
export function waitable(kind: KindInfo): boolean {
  return kind.kind === "InferenceService" || kind.kind === "TrainingJob";
}

/**
 * Watches one workload until it is ready (Ready condition True / Running for an InferenceService,
 * Succeeded for a TrainingJob), showing progress; fails when it fails or the time is up.
 */
export async function waitReady(s: Session, kind: KindInfo, namespace: string | undefined, name: string, timeoutMs: number): Promise<string> {
  const progress = new Progress();
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  let lastText = `${kind.singular}/${name}: not seen yet`;
  try {
    const watch = s.client.watch(kind, { ...(namespace !== undefined ? { namespace } : {}), fieldSelector: `metadata.name=${name}`, signal: ac.signal });
    for await (const ev of watch) {
      if (ev.type === "DELETED") throw new CliError(`${kind.singular}/${name} was deleted while waiting`);
      const v = readiness(kind, ev.object);
      lastText = v.text;
      if (v.done) return v.text;
      if (v.failed) throw new CliError(v.failed);
      progress.update(`waiting for ${v.text}`);
    }
    throw new CliError(`timed out after ${humanDuration(timeoutMs)} waiting for ${kind.singular}/${name}: last seen ${lastText}`);
  } finally {
    clearTimeout(timer);
    progress.done();
  }
}

/** Polls until the object answers 404 (deletion with finalizers or cascades takes a moment). */
export async function waitDeleted(s: Session, kind: KindInfo, namespace: string | undefined, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await s.client.get(kind, name, namespace !== undefined ? { namespace } : {});
    } catch (err) {
      if (err instanceof ApiRequestError && err.code === 404) return;
      throw err;
    }
    if (Date.now() > deadline) throw new CliError(`timed out after ${humanDuration(timeoutMs)} waiting for ${kind.singular}/${name} to be deleted`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
