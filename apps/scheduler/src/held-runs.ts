import { CONTROL_PLANE_FAILURE_REASONS } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { taskInit, type Snapshot, type SnapshotTask, type TaskInit } from "@eiaas/scheduling";
import { specified } from "./specified.js";
import { isTerminal } from "./workload-status.js";

interface Held {
  /** What the hold takes (the ended task's request; a bare slot when it is unknown). */
  init: TaskInit;
  /** Its place in the current snapshot, once held. */
  task?: SnapshotTask;
}

/** `<namespace>/<name>`: how heartbeats name a task. */
export function runName(t: { metadata: { namespace?: string; name: string } }): string {
  return `${t.metadata.namespace ?? ""}/${t.metadata.name}`;
}

/** Whether the control plane, not the task's agent, ended the task (so its agent may still run it). */
export function endedByControlPlane(t: StoredObject): boolean {
  return t.status?.phase === "Failed" && CONTROL_PLANE_FAILURE_REASONS.has(t.status?.reason ?? "");
}

/**
 * Runs an agent still reports (its heartbeat's `status.runningTasks`) of tasks the control plane
 * already ended — failed them (NodeLost, Evicted, Preempted) or deleted them while unfinished. The
 * task no longer counts, but until its agent hears of it and stops the run, the run holds the node's
 * room and a task slot: placing a new task there would leave it Dispatched behind the ghost. So such
 * a run is held on its node ({@link Snapshot.hold}) while the node's heartbeats list it, and let go
 * the moment they no longer do (the agent sends one right after it stopped a run). A task its agent
 * finished itself is never held: its heartbeat may list it a little longer, but the agent is done.
 *
 * Only an ending the scheduler saw makes a candidate; after a re-list (its memory gone), what a
 * node lists of a task that is gone or ended by the control plane is held, until the node stops
 * listing it.
 */
export class HeldRuns {
  /** Candidates by node, then by run name. */
  private readonly byNode = new Map<string, Map<string, Held>>();

  /** A task that counted on `node` stopped counting without its agent finishing it. */
  ended(node: string, name: string, init: TaskInit): void {
    let m = this.byNode.get(node);
    if (!m) this.byNode.set(node, (m = new Map()));
    if (!m.has(name)) m.set(name, { init });
  }

  /** A counted task of that name is on the node now: the heartbeat's name is that task's, not a ghost's. */
  replaced(s: Snapshot, node: string, name: string): void {
    const m = this.byNode.get(node);
    const h = m?.get(name);
    if (!m || !h) return;
    if (h.task) s.unhold(h.task);
    m.delete(name);
    if (m.size === 0) this.byNode.delete(node);
  }

  /** Holds what `nodes` still list of their candidates and forgets the rest. */
  sync(s: Snapshot, nodes: Iterable<string>, source: ReadonlyMap<string, StoredObject>): void {
    for (const name of nodes) {
      const m = this.byNode.get(name);
      if (!m) continue;
      const node = source.get(name);
      const listed = new Set<string>(node?.status?.runningTasks ?? []);
      const index = s.nodeIndex(name);
      for (const [run, h] of m) {
        if (node && index >= 0 && listed.has(run)) {
          h.task ??= s.hold({ ...h.init, node: index });
          continue;
        }
        if (h.task) s.unhold(h.task);
        m.delete(run);
      }
      if (m.size === 0) this.byNode.delete(name);
    }
  }

  /** The snapshot was rebuilt: holds its candidates again on `s` (those their nodes still list). */
  rebuilt(s: Snapshot, source: ReadonlyMap<string, StoredObject>): void {
    for (const m of this.byNode.values()) for (const h of m.values()) delete h.task;
    this.sync(s, [...this.byNode.keys()], source);
  }

  /** After a re-list: candidates from what nodes list and the tasks as they are now. */
  relisted(s: Snapshot, nodes: ReadonlyMap<string, StoredObject>, tasks: ReadonlyMap<string, StoredObject>): void {
    this.byNode.clear();
    const listing = [...nodes.values()].filter((n) => (n.status?.runningTasks?.length ?? 0) > 0);
    if (listing.length === 0) return;
    const byName = new Map<string, StoredObject>();
    for (const t of tasks.values()) byName.set(runName(t), t);
    for (const n of listing) {
      for (const run of n.status!.runningTasks as string[]) {
        const slash = run.indexOf("/");
        if (slash <= 0) continue; // a bare name (agents before namespaced names): cannot tell
        const t = byName.get(run);
        if (t && t.spec.nodeName === n.metadata.name && !isTerminal(t)) continue; // counted as it is
        if (t && t.spec.nodeName === n.metadata.name && endedByControlPlane(t)) this.ended(n.metadata.name, run, taskInit(specified(t)));
        else if (!t) this.ended(n.metadata.name, run, { name: run.slice(slash + 1), namespace: run.slice(0, slash), node: n.metadata.name });
      }
    }
    this.sync(s, [...this.byNode.keys()], nodes);
  }

  /** Held runs, for tests and metrics: `<node>: <namespace>/<name>`. */
  list(): string[] {
    const out: string[] = [];
    for (const [node, m] of this.byNode) for (const [run, h] of m) if (h.task) out.push(`${node}: ${run}`);
    return out.sort();
  }
}
