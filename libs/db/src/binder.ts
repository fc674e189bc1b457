import type pg from "pg";
import type { KindInfo } from "@eiaas/api";
import { extraColumns, type StoredObject } from "./codec.js";
import { amount, type NodeDemand } from "@eiaas/scheduling";
import { TRACEPARENT_ANNOTATION, linksFrom } from "@eiaas/telemetry";
import { acceptGroup, bindNode, checkGroup, noDemand, takeOff, type BindNode, type NodeRow, type Quota, type ReleasedRow } from "./bind-check.js";
import { sendTogether } from "./pipeline.js";
import { prepared } from "./prepared.js";
import { dbSpan } from "./tracing.js";
import { splitAtVersion } from "./write-sql.js";
import { WriteTemplate } from "./write-template.js";

/** One workload's tasks: bound all together or not at all (gang). */
export interface BindGroup {
  /** For results and messages, e.g. `InferenceService acme/cam`. */
  id: string;
  namespace: string;
  /** Prepared Task objects (ObjectStore.prepareCreate) with spec.nodeName set. */
  tasks: StoredObject[];
  /** Existing tasks of the group to delete in the same transaction (roll-over, replacement). */
  deletes?: StoredObject[];
  /**
   * The owning workload with its new status (the plan that produced these tasks), written in the
   * same transaction so a plan and its tasks are never seen apart. Conditional on its
   * resourceVersion: a workload changed since it was read refuses the group.
   */
  owner?: { kind: KindInfo; object: StoredObject };
}

/**
 * A group's bind: its tasks as written, or why not — refused (it no longer fits, its workload
 * changed since it was planned), or `failed`: writing its rows raised an error (set by the
 * scheduler's bind pipeline, which binds a failing batch's groups apart to find whose rows fail).
 */
export type BindOutcome = { id: string; bound: true; tasks: StoredObject[] } | { id: string; bound: false; reason: string; failed?: boolean };

/**
 * Binds tasks in one Postgres transaction, re-checking what the plan assumed against the rows as
 * they are now: node exists, is Ready and schedulable, cpu/memory/gpu fit, server load ≤ 1 (≤ gpu
 * count with GPUs), tenant quota holds. Binders take an advisory lock first, so no other bind
 * interleaves between these reads and the write: two schedulers (or a retry) can never
 * over-commit. Groups are taken in order; one that no longer fits is refused whole and the rest
 * continue. The writes and their watch events are one statement whatever the task count.
 */
export function bindTasks(pool: pg.Pool, groups: readonly BindGroup[]): Promise<BindOutcome[]> {
  // One transaction for many workloads: its span links to each workload's plan (the traceparent
  // the scheduler put on the tasks) instead of belonging to one of them.
  const links = linksFrom(groups.map((g) => g.tasks[0]?.metadata.annotations?.[TRACEPARENT_ANNOTATION]));
  return dbSpan("BIND", "tasks", () => bind(pool, groups), { requireParent: false, links, attributes: { "eiaas.bind.groups": groups.length } });
}

/** Serialises binders (two schedulers, a retry) against each other; any number, the same everywhere. */
const BIND_LOCK_KEY = 72_401_003;

async function bind(pool: pg.Pool, groups: readonly BindGroup[]): Promise<BindOutcome[]> {
  const all = groups.flatMap((g) => g.tasks);
  const deletes = groups.flatMap((g) => g.deletes ?? []);
  if (all.length === 0 && deletes.length === 0) return groups.map((g) => ({ id: g.id, bound: true, tasks: [] }));
  const client = await pool.connect();
  try {
    const state = await readBindState(client, groups, all, deletes);
    const { outcomes, accepted } = judgeGroups(groups, state);
    return await commitBound(client, accepted, outcomes);
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** What a bind re-checks against: the touched nodes' and tenants' usage (less what the superseded tasks held), quotas, the owners' versions. */
interface BindState {
  nodes: Map<string, BindNode>;
  quotas: Map<string, Quota>;
  usage: Map<string, NodeDemand>;
  ownerRv: Map<string, string>;
}

/** Opens the bind's transaction, takes the binders' lock and reads what the groups are checked against. */
async function readBindState(client: pg.PoolClient, groups: readonly BindGroup[], all: StoredObject[], deletes: StoredObject[]): Promise<BindState> {
  const nodeNames = [...new Set(all.map((t) => t.spec.nodeName as string))];
  const namespaces = [...new Set(groups.map((g) => g.namespace))];
  const ownerTables = new Map<string, string[]>();
  for (const g of groups) if (g.owner) ownerTables.set(g.owner.kind.table, [...(ownerTables.get(g.owner.kind.table) ?? []), g.owner.object.metadata.uid]);
  // BEGIN, the binders' lock and every read leave together, one round trip instead of one each,
  // and run in that order: binders queue at the lock, and the reads after it include every task
  // the ones before bound. The counter row — every writer's lock, held until commit — is taken
  // only by the final write statement, so API writes are not held up by these reads.
  const sent = sendTogether(client, () => ({
    begin: client.query("BEGIN"),
    lock: client.query(prepared(`SELECT pg_advisory_xact_lock(${BIND_LOCK_KEY})`, [])),
    // What the superseded tasks deleted below hold, to take off the usage rows.
    released: deletes.length
      ? client.query<ReleasedRow>(
          prepared(
            `SELECT (u).node_name, (u).namespace, (u).cpu::float8, (u).memory_mib::float8 AS mem, (u).gpu::float8, (u)."load"::float8, (u).tasks::int
           FROM (SELECT eiaas_usage_of(t, 1) AS u FROM tasks t WHERE t.uid = ANY($1::uuid[])) s`,
            [deletes.map((d) => d.metadata.uid)],
          ),
        )
      : undefined,
    // What the unfinished tasks hold, from the usage rows the tasks trigger keeps (one row per
    // node or tenant, whatever the task count). Nodes are cluster-scoped (namespace ''): saying
    // so lets the (namespace, name) index answer instead of a scan of every node (~3 ms a bind
    // at 5,000 nodes).
    nodes: nodeNames.length
      ? client.query<NodeRow>(
          prepared(
            `SELECT n.name, n.phase, n.spec, n.status, COALESCE(u.cpu, 0)::float8 AS cpu, COALESCE(u.memory_mib, 0)::float8 AS mem,
                  COALESCE(u.gpu, 0)::float8 AS gpu, COALESCE(u."load", 0)::float8 AS load, COALESCE(u.tasks, 0)::int AS tasks
           FROM edge_nodes n LEFT JOIN node_usage u ON u.node_name = n.name WHERE n.namespace = '' AND n.name = ANY($1::text[])`,
            [nodeNames],
          ),
        )
      : undefined,
    tenants: client.query<{ name: string; quota: any; cpu: number | null; mem: number; gpu: number; tasks: number }>(
      prepared(
        `SELECT t.name, t.spec->'quota' AS quota, u.cpu::float8 AS cpu, u.memory_mib::float8 AS mem, u.gpu::float8 AS gpu, u.tasks::int AS tasks
       FROM tenants t LEFT JOIN namespace_usage u ON u.namespace = t.name WHERE t.name = ANY($1::text[])`,
        [namespaces],
      ),
    ),
    // The owners' versions as they are now; the write below is conditional on them, and a write
    // that slipped in between (a user edit) fails the whole bind, to be planned again.
    owners: [...ownerTables].map(([table, uids]) =>
      client.query<{ uid: string; rv: string }>(prepared(`SELECT uid::text AS uid, resource_version::text AS rv FROM "${table}" WHERE uid = ANY($1::uuid[])`, [uids])),
    ),
  }));
  const settled = await Promise.allSettled([sent.begin, sent.lock, sent.released, sent.nodes, sent.tenants, ...sent.owners]);
  // The first failure is the cause; the statements after it only found the transaction aborted.
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;

  const released = (await sent.released)?.rows ?? [];
  const nodes = new Map<string, BindNode>();
  for (const row of (await sent.nodes)?.rows ?? []) nodes.set(row.name, bindNode(row));
  for (const d of released) takeOff(nodes.get(d.node_name)?.used, d);
  // Usage counts only for tenants with a quota to hold.
  const quotas = new Map<string, Quota>();
  const usage = new Map<string, NodeDemand>();
  for (const row of (await sent.tenants).rows) {
    if (!row.quota || !Object.keys(row.quota).length) continue;
    quotas.set(row.name, row.quota);
    if (row.cpu !== null) usage.set(row.name, { cpu: amount(row.cpu), memoryMiB: amount(row.mem), gpu: amount(row.gpu), load: 0, tasks: amount(row.tasks) });
  }
  for (const d of released) takeOff(usage.get(d.namespace), d);
  const ownerRv = new Map<string, string>();
  for (const r of sent.owners) for (const row of (await r).rows) ownerRv.set(row.uid, row.rv);
  return { nodes, quotas, usage, ownerRv };
}

/** Takes the groups in order: each that still fits (and whose owner did not move) counts into the totals for the next. */
function judgeGroups(groups: readonly BindGroup[], { nodes, quotas, usage, ownerRv }: BindState): { outcomes: BindOutcome[]; accepted: BindGroup[] } {
  const outcomes: BindOutcome[] = [];
  const accepted: BindGroup[] = [];
  for (const g of groups) {
    let reason = checkGroup(g.tasks, nodes, quotas.get(g.namespace), usage.get(g.namespace) ?? noDemand());
    if (!reason && g.owner && ownerRv.get(g.owner.object.metadata.uid) !== String(g.owner.object.metadata.resourceVersion)) {
      reason = `${g.owner.kind.kind} ${g.owner.object.metadata.name} changed since it was planned`;
    }
    if (reason) {
      outcomes.push({ id: g.id, bound: false, reason });
      continue;
    }
    // Commit the group's usage into the running totals for the groups after it.
    const tenant = usage.get(g.namespace) ?? noDemand();
    acceptGroup(g.tasks, nodes, tenant);
    usage.set(g.namespace, tenant);
    accepted.push(g);
    outcomes.push({ id: g.id, bound: true, tasks: g.tasks });
  }
  return { outcomes, accepted };
}

/** Writes the accepted groups and commits; a group whose owner moved meanwhile is refused. */
async function commitBound(client: pg.PoolClient, accepted: BindGroup[], outcomes: BindOutcome[]): Promise<BindOutcome[]> {
  // The write and its COMMIT leave together (the pool pipelines): the counter row it locks is
  // held for the statement and the commit, not for a round trip through this busy process.
  // A workload edited between the read above and the write (its write is conditional on the
  // version read) is left out by the statement itself; its group is refused, to be planned again.
  // (Its tasks were counted into the node totals above: the groups after it were judged on a
  // fuller cluster than the one written, never an emptier one.)
  const [written, committed] = sendTogether(client, () => [writeBound(client, accepted), client.query("COMMIT")] as const);
  const [w, c] = await Promise.allSettled([written, committed]);
  if (w.status === "rejected") throw w.reason;
  if (c.status === "rejected") throw c.reason;
  const { versions, moved } = w.value;
  for (const [i, o] of outcomes.entries()) {
    if (!o.bound) continue;
    const g = moved.get(o.id);
    if (g) outcomes[i] = { id: o.id, bound: false, reason: `${g.owner!.kind.kind} ${g.owner!.object.metadata.name} changed since it was planned` };
    else o.tasks = o.tasks.map((t) => ({ ...t, metadata: { ...t.metadata, resourceVersion: versions.get(t.metadata.uid)! } }));
  }
  return outcomes;
}

/**
 * The accepted groups' writes as ONE statement: take the versions (locking the counter row until
 * commit), write the owners' status conditionally on the versions read, and — for the groups whose
 * owner was written (or that have none) — delete the superseded tasks and insert the new ones; log
 * all of it and notify. Versions go owners, deletes, inserts, in group order; a left-out group's
 * versions go unused. Task watch objects are built from the inserted columns (the task JSON is
 * parsed once). Returns each inserted task's version and the groups left out (owner moved).
 */
async function writeBound(client: pg.PoolClient, groups: readonly BindGroup[]): Promise<{ versions: Map<string, string>; moved: Map<string, BindGroup> }> {
  if (groups.length === 0) return { versions: new Map(), moved: new Map() };
  let i = 0;
  const owners = groups.flatMap((g, gi) =>
    g.owner
      ? [
          {
            i: ++i,
            g: gi,
            tbl: g.owner.kind.table,
            kind: g.owner.kind.kind,
            uid: g.owner.object.metadata.uid,
            expected: g.owner.object.metadata.resourceVersion,
            status: g.owner.object.status ?? {},
            phase: g.owner.object.status?.phase ?? "",
            ...splitAtVersion(g.owner.object),
          },
        ]
      : [],
  );
  const removed = groups.flatMap((g, gi) => (g.deletes ?? []).map((t) => ({ i: ++i, g: gi, uid: t.metadata.uid, ...splitAtVersion(t) })));
  const inserts = groups.flatMap((g, gi) =>
    g.tasks.map((t) => ({
      i: ++i,
      g: gi,
      uid: t.metadata.uid,
      namespace: t.metadata.namespace,
      name: t.metadata.name,
      generation: t.metadata.generation,
      labels: t.metadata.labels ?? {},
      annotations: t.metadata.annotations ?? {},
      owner_references: t.metadata.ownerReferences ?? [],
      finalizers: t.metadata.finalizers ?? [],
      creation_timestamp: t.metadata.creationTimestamp,
      spec: t.spec,
      status: t.status ?? {},
      ...extraColumns("Task", t),
      ...splitAtVersion(t),
    })),
  );
  const ownerUpdate = (table: string) => `UPDATE "${table}" t SET status = o.status, phase = o.phase, resource_version = o.new_rv
           FROM o WHERE o.tbl = '${table}' AND t.uid = o.uid AND t.resource_version = o.expected RETURNING t.uid, t.namespace, t.name`;
  const t = new WriteTemplate({ take: "$1" });
  // Every row the statement had to write is counted in Postgres (eiaas_expect_rows): the COMMIT
  // is already on its way, so a shortfall must abort the transaction there.
  const sql = t.sql({
    steps: [
      `o AS (SELECT x.*, ${t.version("x.i")} AS new_rv FROM jsonb_to_recordset($2::jsonb) AS x(i bigint, g int, tbl text, kind text, uid uuid, expected bigint, status jsonb, phase text, head text, tail text))`,
      `o_isvc AS (${ownerUpdate("inference_services")})`,
      `o_tj AS (${ownerUpdate("training_jobs")})`,
      `written AS (SELECT uid, namespace, name FROM o_isvc UNION ALL SELECT uid, namespace, name FROM o_tj)`,
      `moved AS (SELECT o.g FROM o WHERE o.uid NOT IN (SELECT uid FROM written))`,
      `del AS (SELECT x.*, ${t.version("x.i")} AS new_rv FROM jsonb_to_recordset($3::jsonb) AS x(i bigint, g int, uid uuid, head text, tail text) WHERE x.g NOT IN (SELECT g FROM moved))`,
      `d AS (DELETE FROM tasks t USING del WHERE t.uid = del.uid RETURNING t.uid, t.namespace, t.name)`,
      `x AS (SELECT x.*, ${t.version("x.i")} AS new_rv FROM jsonb_to_recordset($4::jsonb) AS x(i bigint, g int, uid uuid, namespace text, name text,
             generation int, labels jsonb, annotations jsonb, owner_references jsonb, finalizers jsonb, creation_timestamp text, spec jsonb, status jsonb,
             phase text, node_name text, owner_uid uuid, attempt int, head text, tail text) WHERE x.g NOT IN (SELECT g FROM moved))`,
      `ins AS (INSERT INTO tasks (uid, namespace, name, resource_version, generation, labels, annotations, owner_references, finalizers,
                                creation_timestamp, spec, status, phase, node_name, owner_uid, attempt)
             SELECT uid, namespace, name, new_rv, generation, labels, annotations, owner_references, finalizers,
                    creation_timestamp::timestamptz, spec, status, phase, node_name, owner_uid, attempt FROM x RETURNING uid)`,
    ],
    logged: [
      { from: "o JOIN written t ON t.uid = o.uid", version: "o.new_rv", kind: "o.kind", namespace: "t.namespace", name: "t.name", type: "'MODIFIED'", head: "o.head", tail: "o.tail" },
      { from: "del JOIN d ON d.uid = del.uid", version: "del.new_rv", kind: "'Task'", namespace: "d.namespace", name: "d.name", type: "'DELETED'", head: "del.head", tail: "del.tail" },
      { from: "x WHERE x.uid IN (SELECT uid FROM ins)", version: "x.new_rv", kind: "'Task'", namespace: "x.namespace", name: "x.name", type: "'ADDED'", head: "x.head", tail: "x.tail" },
    ],
    checks: ["eiaas_expect_rows((SELECT count(*) FROM ins), (SELECT count(*) FROM x)) AS inserted"],
    select: `(SELECT COALESCE(array_agg(g), '{}') FROM moved) AS moved, ${t.base}::text AS rvbase`,
  });
  const r = await client.query<{ moved: number[]; rvbase: string }>(prepared(sql, [i, JSON.stringify(owners), JSON.stringify(removed), JSON.stringify(inserts)]));
  const row = r.rows[0]!;
  const moved = new Map(row.moved.map((gi) => [groups[gi]!.id, groups[gi]!]));
  const base = BigInt(row.rvbase);
  return { versions: new Map(inserts.map((t) => [t.uid, String(base + BigInt(t.i))])), moved };
}
