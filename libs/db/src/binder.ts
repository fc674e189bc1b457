import type pg from "pg";
import type { KindInfo } from "@eiaas/api";
import { extraColumns, type StoredObject } from "./codec.js";
import { TRACEPARENT_ANNOTATION, linksFrom } from "@eiaas/telemetry";
import { sendTogether } from "./pipeline.js";
import { prepared } from "./prepared.js";
import { dbSpan } from "./tracing.js";
import { splitAtVersion, versionedJsonSql, WATCH_CHANNEL } from "./write-sql.js";

/**
 * Annotation with the busy fraction a task adds to its node (shared with libs/scheduling; the
 * task_usage migration's `eiaas_usage_of` reads it by this name).
 */
export const TASK_LOAD_ANNOTATION = "scheduling.eiaas.io/load";

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


interface NodeRow {
  name: string;
  phase: string;
  spec: { capacity?: { cpu?: number; memoryMiB?: number; gpu?: number; tasks?: number }; unschedulable?: boolean };
  status: { conditions?: Array<{ type: string; status: string }> };
  cpu: number;
  mem: number;
  gpu: number;
  load: number;
  /** Unfinished tasks on the node (its task slots in use). */
  tasks: number;
}

interface Usage {
  cpu: number;
  mem: number;
  gpu: number;
  tasks: number;
}

/** What a task about to be deleted holds (zero when it already finished): `eiaas_usage_of`. */
interface ReleasedRow {
  node_name: string;
  namespace: string;
  cpu: number;
  mem: number;
  gpu: number;
  load: number;
  tasks: number;
}

/** Takes what a superseded task holds off a node's or a tenant's totals. */
function takeOff(total: (Usage & { load?: number }) | undefined, d: ReleasedRow): void {
  if (!total) return;
  total.cpu -= d.cpu;
  total.mem -= d.mem;
  total.gpu -= d.gpu;
  total.tasks -= d.tasks;
  if (total.load !== undefined) total.load -= d.load;
}

function num(v: unknown): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

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
        ? client.query<ReleasedRow>(prepared(`SELECT (u).node_name, (u).namespace, (u).cpu::float8, (u).memory_mib::float8 AS mem, (u).gpu::float8, (u)."load"::float8, (u).tasks::int
             FROM (SELECT eiaas_usage_of(t, 1) AS u FROM tasks t WHERE t.uid = ANY($1::uuid[])) s`, [deletes.map((d) => d.metadata.uid)]))
        : undefined,
      // What the unfinished tasks hold, from the usage rows the tasks trigger keeps (one row per
      // node or tenant, whatever the task count). Nodes are cluster-scoped (namespace ''): saying
      // so lets the (namespace, name) index answer instead of a scan of every node (~3 ms a bind
      // at 5,000 nodes).
      nodes: nodeNames.length
        ? client.query<NodeRow>(
            prepared(`SELECT n.name, n.phase, n.spec, n.status, COALESCE(u.cpu, 0)::float8 AS cpu, COALESCE(u.memory_mib, 0)::float8 AS mem,
                    COALESCE(u.gpu, 0)::float8 AS gpu, COALESCE(u."load", 0)::float8 AS load, COALESCE(u.tasks, 0)::int AS tasks
             FROM edge_nodes n LEFT JOIN node_usage u ON u.node_name = n.name WHERE n.namespace = '' AND n.name = ANY($1::text[])`, [nodeNames]),
          )
        : undefined,
      tenants: client.query<{ name: string; quota: any; cpu: number | null; mem: number; gpu: number; tasks: number }>(
        prepared(`SELECT t.name, t.spec->'quota' AS quota, u.cpu::float8 AS cpu, u.memory_mib::float8 AS mem, u.gpu::float8 AS gpu, u.tasks::int AS tasks
         FROM tenants t LEFT JOIN namespace_usage u ON u.namespace = t.name WHERE t.name = ANY($1::text[])`, [namespaces]),
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
    const nodes = new Map<string, NodeRow>();
    for (const row of (await sent.nodes)?.rows ?? []) nodes.set(row.name, { ...row, cpu: num(row.cpu), mem: num(row.mem), gpu: num(row.gpu), load: num(row.load), tasks: num(row.tasks) });
    for (const d of released) takeOff(nodes.get(d.node_name), d);
    // Usage counts only for tenants with a quota to hold.
    const quotas = new Map<string, { cpu?: number; memoryMiB?: number; gpu?: number; tasks?: number }>();
    const usage = new Map<string, Usage>();
    for (const row of (await sent.tenants).rows) {
      if (!row.quota || !Object.keys(row.quota).length) continue;
      quotas.set(row.name, row.quota);
      if (row.cpu !== null) usage.set(row.name, { cpu: num(row.cpu), mem: num(row.mem), gpu: num(row.gpu), tasks: Number(row.tasks) });
    }
    for (const d of released) takeOff(usage.get(d.namespace), d);
    const ownerRv = new Map<string, string>();
    for (const r of sent.owners) for (const row of (await r).rows) ownerRv.set(row.uid, row.rv);

    const outcomes: Array<{ id: string; bound: false; reason: string } | { id: string; bound: true; tasks: StoredObject[] }> = [];
    const accepted: BindGroup[] = [];
    for (const g of groups) {
      let reason = checkGroup(g, nodes, quotas.get(g.namespace), usage.get(g.namespace) ?? { cpu: 0, mem: 0, gpu: 0, tasks: 0 });
      if (!reason && g.owner && ownerRv.get(g.owner.object.metadata.uid) !== String(g.owner.object.metadata.resourceVersion)) {
        reason = `${g.owner.kind.kind} ${g.owner.object.metadata.name} changed since it was planned`;
      }
      if (reason) {
        outcomes.push({ id: g.id, bound: false, reason });
        continue;
      }
      // Commit the group's usage into the running totals for the groups after it.
      const tu = usage.get(g.namespace) ?? { cpu: 0, mem: 0, gpu: 0, tasks: 0 };
      for (const t of g.tasks) {
        const n = nodes.get(t.spec.nodeName)!;
        const r = t.spec.resources ?? {};
        n.cpu += num(r.cpu);
        n.mem += num(r.memoryMiB);
        n.gpu += num(r.gpu);
        n.load += num(t.metadata.annotations?.[TASK_LOAD_ANNOTATION]);
        n.tasks += 1;
        tu.cpu += num(r.cpu);
        tu.mem += num(r.memoryMiB);
        tu.gpu += num(r.gpu);
        tu.tasks += 1;
      }
      usage.set(g.namespace, tu);
      accepted.push(g);
      outcomes.push({ id: g.id, bound: true, tasks: g.tasks });
    }
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
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
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
      ? [{ i: ++i, g: gi, tbl: g.owner.kind.table, kind: g.owner.kind.kind, uid: g.owner.object.metadata.uid, expected: g.owner.object.metadata.resourceVersion, status: g.owner.object.status ?? {}, phase: g.owner.object.status?.phase ?? "", ...splitAtVersion(g.owner.object) }]
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
  // Every row the statement had to write is counted in Postgres (eiaas_expect_rows): the COMMIT
  // is already on its way, so a shortfall must abort the transaction there.
  const r = await client.query<{ moved: number[]; rvbase: string }>(
    prepared(`WITH rv AS (UPDATE resource_version_counter SET value = value + $1 WHERE id = 1 RETURNING value - $1 AS base),
     o AS (SELECT x.*, rv.base + x.i AS new_rv FROM rv, jsonb_to_recordset($2::jsonb) AS x(i bigint, g int, tbl text, kind text, uid uuid, expected bigint, status jsonb, phase text, head text, tail text)),
     o_isvc AS (${ownerUpdate("inference_services")}),
     o_tj AS (${ownerUpdate("training_jobs")}),
     moved AS (SELECT o.g FROM o WHERE o.uid NOT IN (SELECT uid FROM o_isvc UNION ALL SELECT uid FROM o_tj)),
     del AS (SELECT x.*, rv.base + x.i AS new_rv FROM rv, jsonb_to_recordset($3::jsonb) AS x(i bigint, g int, uid uuid, head text, tail text) WHERE x.g NOT IN (SELECT g FROM moved)),
     d AS (DELETE FROM tasks t USING del WHERE t.uid = del.uid RETURNING t.uid, t.namespace, t.name),
     x AS (SELECT x.*, rv.base + x.i AS new_rv FROM rv, jsonb_to_recordset($4::jsonb) AS x(i bigint, g int, uid uuid, namespace text, name text,
             generation int, labels jsonb, annotations jsonb, owner_references jsonb, finalizers jsonb, creation_timestamp text, spec jsonb, status jsonb,
             phase text, node_name text, owner_uid uuid, attempt int, head text, tail text) WHERE x.g NOT IN (SELECT g FROM moved)),
     ins AS (INSERT INTO tasks (uid, namespace, name, resource_version, generation, labels, annotations, owner_references, finalizers,
                                creation_timestamp, spec, status, phase, node_name, owner_uid, attempt)
             SELECT uid, namespace, name, new_rv, generation, labels, annotations, owner_references, finalizers,
                    creation_timestamp::timestamptz, spec, status, phase, node_name, owner_uid, attempt FROM x RETURNING uid),
     ev AS (INSERT INTO watch_events (resource_version, kind, namespace, name, type, object)
            SELECT o.new_rv, o.kind, t.namespace, t.name, 'MODIFIED', ${versionedJsonSql("o.head", "o.new_rv", "o.tail")}
              FROM o JOIN (SELECT uid, namespace, name FROM o_isvc UNION ALL SELECT uid, namespace, name FROM o_tj) t ON t.uid = o.uid
            UNION ALL
            SELECT del.new_rv, 'Task', d.namespace, d.name, 'DELETED', ${versionedJsonSql("del.head", "del.new_rv", "del.tail")}
              FROM del JOIN d ON d.uid = del.uid
            UNION ALL
            SELECT x.new_rv, 'Task', x.namespace, x.name, 'ADDED', ${versionedJsonSql("x.head", "x.new_rv", "x.tail")}
              FROM x WHERE x.uid IN (SELECT uid FROM ins)
            RETURNING resource_version),
     n AS (SELECT pg_notify('${WATCH_CHANNEL}', (SELECT max(resource_version)::text FROM ev)))
     SELECT (SELECT COALESCE(array_agg(g), '{}') FROM moved) AS moved, (SELECT base FROM rv)::text AS rvbase,
            eiaas_expect_rows((SELECT count(*) FROM ins), (SELECT count(*) FROM x)) AS inserted, (SELECT count(*) FROM n) AS notified`,
    [i, JSON.stringify(owners), JSON.stringify(removed), JSON.stringify(inserts)]),
  );
  const row = r.rows[0]!;
  const moved = new Map(row.moved.map((gi) => [groups[gi]!.id, groups[gi]!]));
  const base = BigInt(row.rvbase);
  return { versions: new Map(inserts.map((t) => [t.uid, String(base + BigInt(t.i))])), moved };
}

function checkGroup(
  g: BindGroup,
  nodes: Map<string, NodeRow>,
  quota: { cpu?: number; memoryMiB?: number; gpu?: number; tasks?: number } | undefined,
  used: Usage,
): string | undefined {
  const add = new Map<string, { cpu: number; mem: number; gpu: number; load: number; tasks: number }>();
  let cpu = 0;
  let mem = 0;
  let gpu = 0;
  for (const t of g.tasks) {
    const name = t.spec.nodeName as string;
    const n = nodes.get(name);
    if (!n) return `node ${name} no longer exists`;
    const ready = n.phase !== "NotReady" && (n.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "True") === "True";
    if (!ready) return `node ${name} is not Ready`;
    if (n.spec?.unschedulable) return `node ${name} is cordoned`;
    const r = t.spec.resources ?? {};
    const a = add.get(name) ?? { cpu: 0, mem: 0, gpu: 0, load: 0, tasks: 0 };
    a.tasks += 1;
    a.cpu += num(r.cpu);
    a.mem += num(r.memoryMiB);
    a.gpu += num(r.gpu);
    a.load += num(t.metadata.annotations?.[TASK_LOAD_ANNOTATION]);
    add.set(name, a);
    cpu += num(r.cpu);
    mem += num(r.memoryMiB);
    gpu += num(r.gpu);
  }
  for (const [name, a] of add) {
    const n = nodes.get(name)!;
    const cap = n.spec?.capacity ?? {};
    if (a.cpu > 0 && n.cpu + a.cpu > num(cap.cpu) + 1e-9) return `node ${name}: insufficient cpu`;
    if (a.mem > 0 && n.mem + a.mem > num(cap.memoryMiB) + 1e-9) return `node ${name}: insufficient memory`;
    if (a.gpu > 0 && n.gpu + a.gpu > num(cap.gpu) + 1e-9) return `node ${name}: insufficient gpu`;
    const loadCap = num(cap.gpu) > 0 ? num(cap.gpu) : 1;
    if (a.load > 0 && n.load + a.load > loadCap + 1e-9) return `node ${name}: load would exceed ${loadCap}`;
    const slots = num(cap.tasks);
    if (slots > 0 && n.tasks + a.tasks > slots) return `node ${name}: too many tasks (${slots} slots)`;
  }
  if (quota) {
    if (quota.tasks !== undefined && used.tasks + g.tasks.length > quota.tasks) return `quota: tasks ${used.tasks + g.tasks.length} > ${quota.tasks}`;
    if (quota.cpu !== undefined && cpu > 0 && used.cpu + cpu > quota.cpu + 1e-9) return `quota: cpu ${used.cpu + cpu} > ${quota.cpu}`;
    if (quota.memoryMiB !== undefined && mem > 0 && used.mem + mem > quota.memoryMiB + 1e-9) return `quota: memory ${used.mem + mem} > ${quota.memoryMiB}`;
    if (quota.gpu !== undefined && gpu > 0 && used.gpu + gpu > quota.gpu + 1e-9) return `quota: gpu ${used.gpu + gpu} > ${quota.gpu}`;
  }
  return undefined;
}
