import type pg from "pg";
import { kindInfo, type KindInfo } from "@eiaas/api";
import { rowToObject, type ObjectRow, type StoredObject } from "./codec.js";
import { controllerOf } from "./ownership.js";
import { prepared } from "./prepared.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const MODEL = kindInfo("Model");
const PROFILE = kindInfo("ModelProfile");
const ISVC = kindInfo("InferenceService");
const TJ = kindInfo("TrainingJob");
const TASK = kindInfo("Task");
const KINDS: readonly KindInfo[] = [NODE, TENANT, MODEL, PROFILE, ISVC, TJ, TASK];

export interface ClusterCacheOptions {
  /**
   * Also re-list every this many ms. Default: never — only at start, after an error
   * ({@link invalidate}) and when the log after the cursor was compacted away, as client-go's
   * reflector re-lists only when its watch fails. The ordered log misses nothing, and a re-list
   * costs a read of every object and a re-plan check of every workload: at 15,000 tasks a
   * 30-second period stalled scheduling for ~3 s each time (bench:dispatch).
   */
  relistMs?: number;
  /** Most log entries read per round trip. Default 10 000. */
  pageSize?: number;
}

/** What one `sync` changed. */
export interface CacheDelta {
  /** The cache was rebuilt from the tables (first sync, period, compacted log): reconsider everything. */
  relisted: boolean;
  /** Workloads (by uid) whose own object or one of whose tasks changed. */
  workloads: Set<string>;
  /**
   * Something that can let a waiting workload fit changed: a node's spec, labels, phase or
   * measured link; a tenant's spec; a model; a task finished or went away.
   */
  roomChanged: boolean;
  /** A node's links or readiness changed (what re-planning of running services looks at). */
  linksChanged: boolean;
  /** A node or tenant changed in what the planner reads of it (not tasks): snapshots must be rebuilt. */
  fleetChanged: boolean;
  /** A ModelProfile (measured segment timings) was written or deleted. */
  profilesChanged: boolean;
  /** Tasks that changed, by uid: their state now, or undefined once deleted. */
  tasks: Map<string, StoredObject | undefined>;
  /**
   * Nodes (by name) whose agent-reported running tasks (`status.runningTasks`) changed, or that
   * came or went: what tells the scheduler a run of an ended task (a ghost) stopped.
   */
  nodesRunning: Set<string>;
  /** Log entries applied. */
  applied: number;
}

interface LogRow {
  resource_version: string;
  kind: string;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: StoredObject;
}

/** The workload kinds the cache indexes tasks under. */
export type WorkloadKind = "InferenceService" | "TrainingJob";

/**
 * The scheduler's informer (client-go's reflector + store, on the watch log instead of a watch
 * stream): nodes, tenants, models, workloads and tasks held in memory and brought up to date with
 * one indexed read of `watch_events` after the last applied resourceVersion. resourceVersions
 * follow commit order (every writer holds the counter row until it commits), so reading the log in
 * order after the cursor misses nothing. It re-lists in one REPEATABLE READ transaction at start,
 * after an error, when the log it needs was compacted away and, if asked, every `relistMs`.
 */
export class ClusterCache {
  /** EdgeNodes by name. */
  readonly nodes = new Map<string, StoredObject>();
  /** Tenants by name. */
  readonly tenants = new Map<string, StoredObject>();
  /** Models by `namespace/name`. */
  readonly models = new Map<string, StoredObject>();
  /** ModelProfiles (measured timings of a model on a node) by `namespace/name`. */
  readonly profiles = new Map<string, StoredObject>();
  /** InferenceServices and TrainingJobs by uid. */
  readonly workloads = new Map<string, StoredObject>();
  /** Tasks by uid. */
  readonly tasks = new Map<string, StoredObject>();
  private readonly byOwner = new Map<string, Map<string, StoredObject>>();
  /** Controller uids of tasks in the cache that are not a workload in the cache (see danglingOwners). */
  private readonly dangling = new Set<string>();
  /** The resourceVersion the cache reflects. */
  resourceVersion = 0n;
  private relistedAt = Number.NEGATIVE_INFINITY;
  private stale = true;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: ClusterCacheOptions = {},
  ) {}

  /** The tasks a workload controls (its tasks' controller owner reference). */
  tasksOf(ownerUid: string): StoredObject[] {
    const m = this.byOwner.get(ownerUid);
    return m ? [...m.values()] : [];
  }

  /**
   * The uids that tasks in the cache name as their controller but that are no workload in the
   * cache: a workload deleted while tasks of it stayed, or an owner of another kind. Kept as
   * changes are applied (a set lookup per task or workload written), so a garbage collector can
   * ask every cycle without scanning the tasks; normally empty, as a workload's delete takes its
   * tasks along. What it names may exist in Postgres all the same: confirm before acting on it.
   */
  danglingOwners(): ReadonlySet<string> {
    return this.dangling;
  }

  /** Makes the next `sync` re-list (after an error left the cache in doubt). */
  invalidate(): void {
    this.stale = true;
  }

  /** Brings the cache up to date with Postgres; `nowMs` decides whether the re-list period is up. */
  async sync(nowMs: number): Promise<CacheDelta> {
    if (this.stale || nowMs - this.relistedAt >= (this.options.relistMs ?? Number.POSITIVE_INFINITY)) return this.relist(nowMs);
    const delta: CacheDelta = { relisted: false, workloads: new Set(), roomChanged: false, linksChanged: false, fleetChanged: false, profilesChanged: false, tasks: new Map(), nodesRunning: new Set(), applied: 0 };
    const page = this.options.pageSize ?? 10_000;
    for (;;) {
      // One statement, one snapshot: the compaction mark and the log after the cursor. The first
      // row carries the mark even when the log has nothing new (then it is the only row).
      const r = await this.pool.query<LogRow & { compacted: string }>(
        prepared(
          `SELECT c.resource_version::text AS compacted, e.resource_version::text AS resource_version, e.kind, e.type, e.object
           FROM watch_compaction c
           LEFT JOIN LATERAL (SELECT resource_version, kind, type, object FROM watch_events
                              WHERE resource_version > $1 AND kind = ANY($2::text[]) ORDER BY resource_version LIMIT ${page}) e ON true
           WHERE c.id = 1 ORDER BY e.resource_version`,
          [this.resourceVersion.toString(), KINDS.map((k) => k.kind)],
        ),
      );
      // The entries after our cursor may be gone: only a re-list is exact then.
      if (BigInt(r.rows[0]?.compacted ?? "0") > this.resourceVersion) return this.relist(nowMs);
      const entries = r.rows.filter((row) => row.resource_version !== null);
      for (const row of entries) {
        this.apply(row, delta);
        this.resourceVersion = BigInt(row.resource_version);
        delta.applied++;
      }
      if (entries.length < page) return delta;
    }
  }

  private async relist(nowMs: number): Promise<CacheDelta> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const rv = await client.query<{ value: string }>(`SELECT value::text AS value FROM resource_version_counter WHERE id = 1`);
      const rows = new Map<KindInfo, ObjectRow[]>();
      for (const kind of KINDS) rows.set(kind, (await client.query<ObjectRow>(`SELECT * FROM "${kind.table}" ORDER BY namespace, name`)).rows);
      await client.query("COMMIT");
      for (const m of [this.nodes, this.tenants, this.models, this.profiles, this.workloads, this.tasks, this.byOwner, this.dangling]) m.clear();
      // Workloads before tasks (KINDS order): a task's owner is known by the time the task is put.
      for (const [kind, list] of rows) for (const row of list) this.put(rowToObject(kind, row));
      this.resourceVersion = BigInt(rv.rows[0]?.value ?? "0");
      this.relistedAt = nowMs;
      this.stale = false;
      return { relisted: true, workloads: new Set(this.workloads.keys()), roomChanged: true, linksChanged: true, fleetChanged: true, profilesChanged: true, tasks: new Map(this.tasks), nodesRunning: new Set(this.nodes.keys()), applied: 0 };
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private apply(row: LogRow, delta: CacheDelta): void {
    const obj = row.object;
    const deleted = row.type === "DELETED";
    switch (row.kind) {
      case NODE.kind: {
        const prev = this.nodes.get(obj.metadata.name);
        if (deleted || !prev || nodeSchedulingChanged(prev, obj)) delta.roomChanged = delta.fleetChanged = true;
        if (deleted || !prev || nodeLinkChanged(prev, obj)) delta.linksChanged = true;
        if (deleted || !prev || !sameJsonText(prev.status?.runningTasks, obj.status?.runningTasks)) delta.nodesRunning.add(obj.metadata.name);
        break;
      }
      case TENANT.kind: {
        const prev = this.tenants.get(obj.metadata.name);
        if (deleted || !prev || !sameJsonText(prev.spec, obj.spec)) delta.roomChanged = delta.fleetChanged = true;
        break;
      }
      case MODEL.kind:
        delta.roomChanged = true;
        break;
      case PROFILE.kind:
        delta.profilesChanged = true;
        break;
      case ISVC.kind:
      case TJ.kind:
        delta.workloads.add(obj.metadata.uid);
        break;
      case TASK.kind: {
        const owner = controllerUid(obj);
        if (owner) delta.workloads.add(owner);
        const phase = obj.status?.phase;
        if (deleted || phase === "Succeeded" || phase === "Failed") delta.roomChanged = true;
        delta.tasks.set(obj.metadata.uid, deleted ? undefined : obj);
        break;
      }
    }
    if (deleted) this.remove(obj);
    else this.put(obj);
  }

  private put(obj: StoredObject): void {
    switch (obj.kind) {
      case NODE.kind:
        this.nodes.set(obj.metadata.name, obj);
        return;
      case TENANT.kind:
        this.tenants.set(obj.metadata.name, obj);
        return;
      case MODEL.kind:
        this.models.set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj);
        return;
      case PROFILE.kind:
        this.profiles.set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj);
        return;
      case ISVC.kind:
      case TJ.kind:
        this.workloads.set(obj.metadata.uid, obj);
        this.dangling.delete(obj.metadata.uid);
        return;
      case TASK.kind: {
        const prev = this.tasks.get(obj.metadata.uid);
        // An update that names another controller (by hand) leaves the old one's index.
        if (prev && controllerUid(prev) !== controllerUid(obj)) this.unindex(prev);
        this.tasks.set(obj.metadata.uid, obj);
        const owner = controllerUid(obj);
        if (!owner) return;
        let m = this.byOwner.get(owner);
        if (!m) this.byOwner.set(owner, (m = new Map()));
        m.set(obj.metadata.uid, obj);
        if (!this.workloads.has(owner)) this.dangling.add(owner);
      }
    }
  }

  private remove(obj: StoredObject): void {
    switch (obj.kind) {
      case NODE.kind:
        this.nodes.delete(obj.metadata.name);
        return;
      case TENANT.kind:
        this.tenants.delete(obj.metadata.name);
        return;
      case MODEL.kind:
        this.models.delete(`${obj.metadata.namespace}/${obj.metadata.name}`);
        return;
      case PROFILE.kind:
        this.profiles.delete(`${obj.metadata.namespace}/${obj.metadata.name}`);
        return;
      case ISVC.kind:
      case TJ.kind:
        this.workloads.delete(obj.metadata.uid);
        if (this.byOwner.has(obj.metadata.uid)) this.dangling.add(obj.metadata.uid);
        return;
      case TASK.kind: {
        // The cached copy says which owner indexes it (the logged one is the deleter's view).
        this.unindex(this.tasks.get(obj.metadata.uid) ?? obj);
        this.tasks.delete(obj.metadata.uid);
      }
    }
  }

  /** Takes a task out of its controller's index. */
  private unindex(task: StoredObject): void {
    const owner = controllerUid(task);
    const m = owner ? this.byOwner.get(owner) : undefined;
    m?.delete(task.metadata.uid);
    if (owner && m?.size === 0) {
      this.byOwner.delete(owner);
      this.dangling.delete(owner);
    }
  }
}

function controllerUid(obj: StoredObject): string | undefined {
  return controllerOf(obj)?.uid;
}

/** What the planner reads of a node, apart from its link: a heartbeat that changes none of it is no news. */
function nodeSchedulingChanged(a: StoredObject, b: StoredObject): boolean {
  return (
    a.status?.phase !== b.status?.phase ||
    !sameJsonText(a.spec, b.spec) ||
    !sameJsonText(a.metadata.labels, b.metadata.labels) ||
    !sameJsonText(readyCondition(a), readyCondition(b)) ||
    nodeLinkChanged(a, b)
  );
}

function nodeLinkChanged(a: StoredObject, b: StoredObject): boolean {
  return (
    a.status?.phase !== b.status?.phase ||
    a.status?.measured?.uplinkMbps !== b.status?.measured?.uplinkMbps ||
    a.status?.measured?.rttMs !== b.status?.measured?.rttMs ||
    !sameJsonText(a.spec?.network, b.spec?.network)
  );
}

function readyCondition(n: StoredObject): string | undefined {
  return n.status?.conditions?.find((c: { type: string }) => c.type === "Ready")?.status;
}

/** Equality of two JSON values as written (both come from the same writer's objects or the same JSONB). */
function sameJsonText(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
