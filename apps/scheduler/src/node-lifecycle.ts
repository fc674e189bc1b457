import { kindInfo, TAINT_UNREACHABLE, type Taint } from "@eiaas/api";
import { bulkUpdateStatus, rowToObject, type EventRecorder, type ObjectRow, type ObjectStore, type StoredObject } from "@eiaas/db";
import { taskJobId, type LeaseStore, type QueueBackend } from "@eiaas/queue";
import type { Logger } from "@eiaas/telemetry";
import type pg from "pg";
import { setCondition } from "./workload-status.js";

const NODE = kindInfo("EdgeNode");
const TASK = kindInfo("Task");

export interface NodeLifecycleOptions {
  /** Lease age after which a node is NotReady. Default 40 s. */
  gracePeriodMs?: number;
  /** Time NotReady after which its tasks fail with NodeLost. Default 60 s. */
  evictionMs?: number;
}

/**
 * Kubernetes' node lifecycle controller (design.md §6): a node whose lease is older than the grace
 * period becomes NotReady and gets the `node.eiaas.io/unreachable:NoExecute` taint; once NotReady
 * for the eviction period its unfinished tasks fail with reason NodeLost, so their workloads are
 * re-planned elsewhere. A node whose agent heartbeats again loses the taint. Tasks bound to a node
 * that no longer exists (its EdgeNode was deleted) fail with NodeLost at once, as Kubernetes'
 * pod garbage collector does for pods of deleted nodes. Jobs of failed tasks still in a node queue
 * (waiting, or active with no live lock) are removed, so a returning agent does not start them
 * again; a returning agent stops what it still runs of them (it converges on the API's view).
 */
export class NodeLifecycleController {
  private readonly grace: number;
  private readonly eviction: number;

  constructor(
    private readonly deps: { pool: pg.Pool; store: ObjectStore; leases: LeaseStore; events: EventRecorder; logger: Logger; queue?: QueueBackend },
    options: NodeLifecycleOptions = {},
  ) {
    this.grace = options.gracePeriodMs ?? 40_000;
    this.eviction = options.evictionMs ?? 60_000;
  }

  /** `known`: the nodes as the caller's cache has them (a list of every node is read otherwise). */
  async pass(now = new Date(), known?: readonly StoredObject[]): Promise<{ notReady: number; evicted: number }> {
    const nodes = known ?? (await this.deps.store.list(NODE)).items;
    const leases = new Map((await this.deps.leases.getAll()).map((l) => [l.nodeName, l.renewTime.getTime()]));
    const ts = now.toISOString();
    const markNotReady: Array<{ object: StoredObject; status: Record<string, unknown> }> = [];
    const evict: StoredObject[] = [];
    for (const n of nodes) {
      // A node never heard from is measured from its creation, as Kubernetes does.
      const last = leases.get(n.metadata.name) ?? Date.parse(n.metadata.creationTimestamp);
      const stale = now.getTime() - last > this.grace;
      const ready = n.status?.phase !== "NotReady";
      // Unknown: this controller's mark of a silent node. A node NotReady for another reason (its
      // agent heartbeats but cannot consume its queue) still goes Unknown once it falls silent,
      // and its eviction period counts from then.
      const readyCondition = n.status?.conditions?.find((c: any) => c.type === "Ready");
      const unknown = !ready && readyCondition?.status === "Unknown";
      const hasTaint = (n.spec.taints ?? []).some((t: Taint) => t.key === TAINT_UNREACHABLE);
      if (stale && !unknown) {
        markNotReady.push({
          object: n,
          status: {
            ...n.status,
            phase: "NotReady",
            conditions: setCondition(
              n.status?.conditions,
              { type: "Ready", status: "Unknown", reason: "NodeStatusUnknown", message: `no heartbeat for ${Math.round((now.getTime() - last) / 1000)}s` },
              ts,
            ),
          },
        });
      }
      if (stale && !hasTaint) await this.setTaint(n, true, ts);
      if (!stale && hasTaint && ready) await this.setTaint(n, false, ts);
      if (unknown && stale) {
        const since = Date.parse(readyCondition?.lastTransitionTime ?? ts);
        if (now.getTime() - since >= this.eviction) evict.push(n);
      }
    }
    if (markNotReady.length) {
      await bulkUpdateStatus(this.deps.pool, NODE, markNotReady);
      for (const m of markNotReady) this.deps.logger.warn({ node: m.object.metadata.name }, "node NotReady: lease expired");
    }
    let evicted = 0;
    for (const n of evict) {
      const r = await this.deps.store.list(TASK, { fields: [{ field: "spec.nodeName", value: n.metadata.name, negate: false }] });
      evicted += await this.failTasks(n.metadata.name, r.items, `node ${n.metadata.name} is unreachable`, now);
    }
    // Tasks of nodes that were deleted: nobody will run them. The nodes are found from the
    // per-node usage rows (one per node that ever held a task), their tasks only when there are
    // any: matching every task against every node name cost ~20 ms a pass at 1,000 nodes.
    const gone = await this.deps.pool.query<{ node_name: string }>(
      // EXCEPT is always hashed; an anti-join planned from a fresh table's missing statistics was
      // a nested loop of 5,000 × 5,000 names (~100 ms).
      `SELECT node_name FROM node_usage WHERE tasks > 0 EXCEPT SELECT name FROM edge_nodes`,
    );
    const orphans = gone.rows.length
      ? await this.deps.pool.query<ObjectRow>(`SELECT * FROM tasks WHERE node_name = ANY($1::text[]) AND phase NOT IN ('Succeeded', 'Failed')`, [gone.rows.map((r) => r.node_name)])
      : { rows: [] as ObjectRow[] };
    const byNode = new Map<string, StoredObject[]>();
    for (const row of orphans.rows) {
      const t = rowToObject(TASK, row);
      byNode.set(t.spec.nodeName, [...(byNode.get(t.spec.nodeName) ?? []), t]);
    }
    for (const [name, tasks] of byNode) evicted += await this.failTasks(name, tasks, `node ${name} no longer exists`, now);
    return { notReady: markNotReady.length, evicted };
  }

  private async setTaint(n: StoredObject, on: boolean, ts: string): Promise<void> {
    const others = (n.spec.taints ?? []).filter((t: Taint) => t.key !== TAINT_UNREACHABLE);
    const taints = on ? [...others, { key: TAINT_UNREACHABLE, effect: "NoExecute", timeAdded: ts }] : others;
    await this.deps.store.update(NODE, n, { ...n, spec: { ...n.spec, taints } }).catch(() => undefined);
  }

  /** Fails a node's unfinished tasks with NodeLost (one statement), with an Event per workload. */
  private async failTasks(node: string, tasks: readonly StoredObject[], why: string, now: Date): Promise<number> {
    const victims = tasks.filter((t) => !["Succeeded", "Failed"].includes(t.status?.phase ?? ""));
    if (!victims.length) return 0;
    const ts = now.toISOString();
    const written = await bulkUpdateStatus(
      this.deps.pool,
      TASK,
      victims.map((t) => ({ object: t, status: { ...t.status, phase: "Failed", reason: "NodeLost", message: why, finishTime: ts } })),
    );
    for (const t of written) {
      // Waiting jobs, and active ones whose lock lapsed (the agent stopped renewing it long before
      // eviction: grace + eviction period > lock duration): otherwise the stalled check hands them
      // back and the returning agent takes the failed task again. A job whose lock is still held
      // belongs to an agent that is alive but cut off from the API; it stops the run and finishes
      // the job once it hears of the failure (its reconciler).
      await this.deps.queue?.removeTaskJob(node, taskJobId(t.metadata.uid, t.status?.attempt ?? 1), { abandoned: true }).catch((err) => {
        this.deps.logger.debug({ err, task: t.metadata.name }, "could not remove the job of a lost task");
      });
    }
    const owners = new Map<string, { kind: string; name: string; namespace: string; uid: string }>();
    for (const t of written) {
      const o = t.metadata.ownerReferences?.find((x) => x.controller);
      if (o) owners.set(o.uid, { kind: o.kind, name: o.name, namespace: t.metadata.namespace!, uid: o.uid });
    }
    for (const o of owners.values()) {
      await this.deps.events.record({ involved: o, type: "Warning", reason: "NodeLost", message: `tasks on node ${node} failed (${why}); rescheduling` }, now);
    }
    return written.length;
  }
}
