import type pg from "pg";
import { kindInfo, type KindInfo } from "@eiaas/api";
import type { StoredObject } from "./codec.js";
import { Informer } from "./informer.js";
import { controllerOf } from "./ownership.js";

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

/** The workload kinds the cache indexes tasks under. */
export type WorkloadKind = "InferenceService" | "TrainingJob";

function emptyDelta(): CacheDelta {
  return { relisted: false, workloads: new Set(), roomChanged: false, linksChanged: false, fleetChanged: false, profilesChanged: false, tasks: new Map(), nodesRunning: new Set(), applied: 0 };
}

/**
 * The scheduler's view of the cluster: a consumer of an {@link Informer} over nodes, tenants,
 * models, profiles, workloads and tasks, with the indexes the scheduler reads (workloads and tasks
 * by uid, tasks by controller, dangling owners) and the delta of each `sync`. Pull-driven: the
 * informer reads the log only when a cycle calls `sync` (it never polls on its own, so the maps do
 * not move under a cycle); its LISTEN, once `listen` is called, only wakes the scheduler. It
 * re-lists at start, after an error ({@link invalidate}), when the log it needs was compacted away
 * and, if asked, every `relistMs`.
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
  private readonly informer: Informer<StoredObject>;
  /** What changed since the last `sync` returned. */
  private delta = emptyDelta();
  private relistedAt = Number.NEGATIVE_INFINITY;
  /** Lists the informer made (a sync that made one returns a re-list's delta). */
  private relists = 0;
  /** What a handler threw since the last sync: that sync fails. */
  private failed?: Error;

  constructor(
    pool: pg.Pool,
    private readonly options: ClusterCacheOptions = {},
  ) {
    this.informer = new Informer<StoredObject>({
      pool,
      kinds: KINDS,
      transform: (_kind, object) => object,
      pollIntervalMs: 0,
      pageSize: options.pageSize ?? 10_000,
    });
    this.informer.addHandlers(
      {
        onAdd: (_kind, obj) => this.apply(obj, undefined, false),
        onUpdate: (_kind, old, obj) => this.apply(obj, old, false),
        onDelete: (_kind, old, event) => this.apply(event.object, old, true),
        onRelist: () => this.rebuild(),
      },
      {
        // A change it could not take leaves the maps in doubt: the sync fails (the cycle with it)
        // and the next one lists again, as a failed read would.
        onError: (err) => {
          this.failed ??= err instanceof Error ? err : new Error(String(err));
          this.informer.invalidate();
        },
      },
    );
  }

  /** The resourceVersion the cache reflects. */
  get resourceVersion(): bigint {
    return this.informer.resourceVersion;
  }

  /**
   * Calls `onNotify` on every committed change (the informer's LISTEN on `databaseUrl`), and once
   * after each reconnect. Only a wake-up: the changes are read by the next `sync`. `onError` hears
   * of a lost or failed connection (it reconnects with a jittered backoff).
   */
  listen(databaseUrl: string, onNotify: () => void, onError?: (err: Error) => void): void {
    this.informer.addHandlers({ onNotify });
    this.informer.listen(databaseUrl, onError);
  }

  /** Stops the wake-ups of `listen` (a `sync` still reads). */
  async stopListening(): Promise<void> {
    await this.informer.unlisten();
  }

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
    this.informer.invalidate();
  }

  /** Brings the cache up to date with Postgres; `nowMs` decides whether the re-list period is up. */
  async sync(nowMs: number): Promise<CacheDelta> {
    if (nowMs - this.relistedAt >= (this.options.relistMs ?? Number.POSITIVE_INFINITY)) this.informer.invalidate();
    const relistsBefore = this.relists;
    await this.informer.sync();
    if (this.relists !== relistsBefore) this.relistedAt = nowMs;
    const failed = this.failed;
    this.failed = undefined;
    if (failed) throw failed;
    const delta = this.delta;
    this.delta = emptyDelta();
    return delta;
  }

  /** After the informer listed: the maps again from its store, and a delta that says "reconsider everything". */
  private rebuild(): void {
    this.relists++;
    for (const m of [this.nodes, this.tenants, this.models, this.profiles, this.workloads, this.tasks, this.byOwner, this.dangling]) m.clear();
    // Workloads before tasks (KINDS order): a task's owner is known by the time the task is put.
    for (const kind of KINDS) for (const obj of this.informer.list(kind)) this.put(obj);
    this.delta = {
      relisted: true,
      workloads: new Set(this.workloads.keys()),
      roomChanged: true,
      linksChanged: true,
      fleetChanged: true,
      profilesChanged: true,
      tasks: new Map(this.tasks),
      nodesRunning: new Set(this.nodes.keys()),
      applied: 0,
    };
  }

  /** One change read from the log: into the maps and the delta. `prev` is what the informer held. */
  private apply(obj: StoredObject, prev: StoredObject | undefined, deleted: boolean): void {
    const delta = this.delta;
    delta.applied++;
    switch (obj.kind) {
      case NODE.kind: {
        if (deleted || !prev || nodeSchedulingChanged(prev, obj)) delta.roomChanged = delta.fleetChanged = true;
        if (deleted || !prev || nodeLinkChanged(prev, obj)) delta.linksChanged = true;
        if (deleted || !prev || !sameJsonText(prev.status?.runningTasks, obj.status?.runningTasks)) delta.nodesRunning.add(obj.metadata.name);
        break;
      }
      case TENANT.kind: {
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
