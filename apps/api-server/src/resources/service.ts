import { isDeepStrictEqual } from "node:util";
import { API_VERSION, TENANT_FINALIZER, type KindInfo, type ManagedFieldsEntry } from "@eiaas/api";
import { metadataMaps, StoreError, type ListOptions, type ListResult, type NewObject, type ObjectStore, type StoredObject } from "@eiaas/db";
import { ApiError, notFound } from "../http/errors.js";
import { applyJsonPatch, applyMergePatch } from "../http/patch.js";
import { traceAnnotation } from "@eiaas/telemetry";
import { admitPriority, countQuotaOf, type AdmissionDefaults } from "./admission.js";
import { applyConfiguration } from "../apply/managed-fields.js";
import { appliedConfiguration, conflictError, managedAfterUpdate, now, ownedPart, sentManagedFields, shapeOfKind, upgradesClientSideApply } from "./ownership.js";
import { repeatsFinalReport, supersededReport, taskReportApplies } from "./task-reports.js";
import type { ObjectReader } from "./reader.js";
import { deleteCollection, deleteObject, type DeleteCollectionRequest, type DeleteRequest, type DeletionDeps } from "./deletion.js";
import { expectedVersion, PATCH_RETRIES } from "./preconditions.js";
import { TENANT, validateObject, validateStatus, type UnknownFields, type ValidatedObject } from "./validate.js";

/** Fills `status` of a workload under dryRun with what the scheduler would decide (the plan). */
export type DryRunPlanner = (kind: KindInfo, obj: StoredObject) => Promise<unknown | undefined>;

export interface ResourceServiceOptions {
  store: ObjectStore;
  /** Where reads go. Default the store (Postgres); the API server reads through its watch cache. */
  reader?: ObjectReader;
  dryRunPlanner?: DryRunPlanner;
  /** Called after every committed write (e.g. to enqueue the workload for scheduling). */
  onWrite?: (kind: KindInfo, obj: StoredObject, type: "create" | "update" | "delete") => void;
  /** What is admitted for tenants whose spec does not say: priority cap, object counts. Default: priority 0, no count caps. */
  admission?: AdmissionDefaults;
}

export type PatchType = "merge" | "json";

export interface WriteRequest {
  dryRun?: boolean;
  /** Unknown fields of a create, update or patch (default Strict). */
  fieldValidation?: UnknownFields;
  /**
   * A dry run of a workload answers, in `status`, what the scheduler would plan (eiaas'
   * `planPreview=true`, which eictl asks for). Without it a dry run answers the stored status, as
   * Kubernetes does: `kubectl diff` of a label showed the status re-planned.
   */
  planPreview?: boolean;
  /**
   * Who writes (`fieldManager`, else the User-Agent's product): its changes are recorded as its
   * `Update` entry in `metadata.managedFields`. Absent (a controller's write): ownership is kept.
   */
  fieldManager?: string;
}

/**
 * The generic registry behind every REST verb: validation, namespace and tenant admission,
 * finalizers, cascades, optimistic concurrency. HTTP-free so tests and other callers can use it.
 */
export class ResourceService {
  constructor(private readonly options: ResourceServiceOptions) {}

  private get store(): ObjectStore {
    return this.options.store;
  }

  private get reader(): ObjectReader {
    return this.options.reader ?? this.options.store;
  }

  async get(kind: KindInfo, namespace: string | undefined, name: string): Promise<StoredObject> {
    const obj = await this.reader.get(kind, namespace, name);
    if (!obj) throw notFound(kind.plural, name);
    return obj;
  }

  list(kind: KindInfo, options: ListOptions): Promise<ListResult> {
    return this.store.list(kind, options);
  }

  /** Namespaced objects live in an existing, non-terminating Tenant's namespace. */
  private async admitNamespace(kind: KindInfo, obj: ValidatedObject): Promise<StoredObject | undefined> {
    if (!kind.namespaced) return undefined;
    const ns = obj.metadata.namespace!;
    // As Kubernetes' namespace admission (an informer's lister): a tenant the cache holds, live,
    // admits without waiting for the cache to catch up; anything else is read consistently. A
    // create racing the tenant's deletion is removed by the namespace controller, which empties
    // the namespace before the tenant goes.
    const cached = this.reader.peek?.(TENANT, undefined, ns);
    const tenant = cached && !cached.metadata.deletionTimestamp ? cached : await this.reader.get(TENANT, undefined, ns);
    if (!tenant) throw new ApiError("NotFound", `namespaces "${ns}" not found`, { name: ns, kind: "namespaces" });
    if (tenant.metadata.deletionTimestamp) {
      throw new ApiError("Forbidden", `unable to create new content in namespace ${ns} because it is being terminated`);
    }
    return tenant;
  }

  async create(kind: KindInfo, namespace: string | undefined, body: unknown, req: WriteRequest = {}, applied?: ManagedFieldsEntry[]): Promise<StoredObject> {
    const obj = validateObject(kind, body, { namespace }, req.fieldValidation);
    const sent = sentManagedFields(kind, obj.metadata.name, obj.metadata.managedFields);
    delete obj.metadata.managedFields;
    const managed = applied ?? (req.fieldManager ? managedAfterUpdate(kind, undefined, obj, sent ?? [], req.fieldManager) : (sent ?? []));
    if (managed.length > 0) obj.metadata.managedFields = managed;
    const tenant = await this.admitNamespace(kind, obj);
    const admission = this.options.admission ?? {};
    admitPriority(kind, obj, tenant, admission);
    if (kind.kind === "Tenant") {
      obj.metadata.finalizers = [...new Set([...(obj.metadata.finalizers ?? []), TENANT_FINALIZER])];
    }
    // Status belongs to the /status subresource: what a client sends on create is ignored.
    const input: NewObject = { ...obj, status: {} };
    if (req.dryRun) {
      if (await this.reader.get(kind, obj.metadata.namespace, obj.metadata.name)) {
        throw new ApiError("AlreadyExists", `${kind.plural} "${obj.metadata.name}" already exists`);
      }
      const preview = this.store.prepareCreate(kind, input);
      this.store.checkObjectSize(kind, preview);
      if (kind.namespaced) await this.store.checkObjectCount(kind, obj.metadata.namespace!, obj.metadata.name, countQuotaOf(kind, admission));
      return req.planPreview ? this.withPlan(kind, preview) : preview;
    }
    if (kind.kind === "InferenceService" || kind.kind === "TrainingJob") {
      // The creating request's trace context: the scheduler's plan (cycles later) joins its trace.
      input.metadata = { ...input.metadata, annotations: { ...input.metadata.annotations, ...traceAnnotation() } };
    }
    const created = await this.store.create(kind, input, { countQuota: countQuotaOf(kind, admission) });
    this.options.onWrite?.(kind, created, "create");
    return created;
  }

  async replace(kind: KindInfo, namespace: string | undefined, name: string, body: unknown, req: WriteRequest = {}): Promise<StoredObject> {
    const obj = validateObject(kind, body, { namespace, name }, req.fieldValidation);
    const current = await this.get(kind, namespace, name);
    if (obj.metadata.uid && obj.metadata.uid !== current.metadata.uid) {
      throw new ApiError("Conflict", `Precondition failed: UID in precondition: ${obj.metadata.uid}, UID in object meta: ${current.metadata.uid}`);
    }
    const expected = expectedVersion(kind, name, (obj.metadata as { resourceVersion?: string }).resourceVersion);
    return this.writeSpec(kind, current, obj, expected, req);
  }

  async patch(kind: KindInfo, namespace: string | undefined, name: string, type: PatchType, patch: unknown, req: WriteRequest & { subresource?: "status" } = {}): Promise<StoredObject> {
    if (type === "merge" && (typeof patch !== "object" || patch === null || Array.isArray(patch))) {
      throw new ApiError("BadRequest", "a merge patch must be a JSON object");
    }
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(kind, namespace, name);
      const patched = (type === "merge" ? applyMergePatch(current, patch) : applyJsonPatch(current, patch)) as Record<string, any>;
      if (typeof patched !== "object" || patched === null || Array.isArray(patched)) {
        throw new ApiError("BadRequest", `the patched object must be a JSON object (a ${kind.kind})`);
      }
      const pinned = typeof patched.metadata?.resourceVersion === "string" && patched.metadata.resourceVersion !== current.metadata.resourceVersion;
      const expected = pinned ? expectedVersion(kind, name, patched.metadata.resourceVersion) : undefined;
      try {
        if (req.subresource === "status") {
          return (await this.writeStatus(kind, current, patched, expected, req)).object;
        }
        const obj = validateObject(kind, patched, { namespace, name }, attempt === 0 ? req.fieldValidation : { mode: req.fieldValidation?.mode ?? "Strict" });
        return await this.writeSpec(kind, current, obj, expected ?? current.metadata.resourceVersion, req);
      } catch (err) {
        // A patch without a pinned version applies to whatever is current: retry on races.
        if (err instanceof StoreError && err.reason === "Conflict" && !pinned && attempt < PATCH_RETRIES) continue;
        throw err;
      }
    }
  }

  /**
   * Server-side apply (`application/apply-patch+yaml`): `body`, the manager's applied
   * configuration, merged into the object as its schema's list types say, with field ownership
   * (apply/, ownership.ts): a field another manager owns that this would change is a 409 naming
   * both, unless `force`. An object that does not exist is created. `created` says which.
   */
  async apply(
    kind: KindInfo,
    namespace: string | undefined,
    name: string,
    body: unknown,
    req: WriteRequest & { fieldManager: string; force: boolean },
  ): Promise<{ object: StoredObject; created: boolean }> {
    const b = appliedConfiguration(kind, namespace, name, body);
    const pinned = expectedVersion(kind, name, b.metadata?.resourceVersion);
    const applied = ownedPart(b);
    const shape = shapeOfKind(kind);
    for (let attempt = 0; ; attempt++) {
      const current = await this.reader.get(kind, namespace, name);
      const fieldValidation = attempt === 0 ? req.fieldValidation : { mode: req.fieldValidation?.mode ?? "Strict" };
      const applyWith = (force: boolean) =>
        applyConfiguration({
          live: current ? ownedPart(current) : undefined,
          managed: current?.metadata.managedFields ?? [],
          applied,
          manager: req.fieldManager,
          force,
          apiVersion: API_VERSION,
          shape,
          now: now(),
        });
      let result = applyWith(req.force);
      if (!result.ok && current && upgradesClientSideApply(kind, current, req.fieldManager, result.conflicts)) result = applyWith(true);
      if (!result.ok) throw conflictError(kind, name, result.conflicts);
      const { metadata: owned, ...rest } = result.object as { metadata?: Record<string, unknown> };
      const metadata = { ...(current ? { uid: current.metadata.uid, resourceVersion: current.metadata.resourceVersion } : {}), name, ...(namespace !== undefined ? { namespace } : {}), ...owned };
      const full = { apiVersion: API_VERSION, kind: kind.kind, metadata, ...rest };
      try {
        if (!current) {
          if (pinned !== undefined) throw notFound(kind.plural, name);
          return { object: await this.create(kind, namespace, full, { ...req, fieldValidation }, result.managedFields), created: true };
        }
        const obj = validateObject(kind, full, { namespace, name }, fieldValidation);
        return { object: await this.writeSpec(kind, current, obj, pinned ?? current.metadata.resourceVersion, req, result.managedFields), created: false };
      } catch (err) {
        // Created or changed meanwhile (another apply): apply again to what is there now.
        const raced = (err instanceof StoreError || err instanceof ApiError) && (err.reason === "Conflict" || err.reason === "AlreadyExists");
        if (raced && pinned === undefined && attempt < PATCH_RETRIES) continue;
        throw err;
      }
    }
  }

  /**
   * A status write (an agent's report, the hottest write) that starts from the reader's latest
   * copy without waiting for it to catch up, when it holds one `visibleTo` accepts: the write is
   * conditional on that copy's version (see `replaceStatus`). Anything else is read consistently;
   * an object `visibleTo` refuses is NotFound.
   */
  async replaceStatusFromLatest(kind: KindInfo, namespace: string | undefined, name: string, body: unknown, visibleTo: (obj: StoredObject) => boolean): Promise<StoredObject> {
    const latest = this.reader.peek?.(kind, namespace, name);
    if (latest && visibleTo(latest)) return this.replaceStatus(kind, namespace, name, body, {}, latest, true);
    const current = await this.get(kind, namespace, name);
    if (!visibleTo(current)) throw notFound(kind.plural, name);
    return this.replaceStatus(kind, namespace, name, body, {}, current);
  }

  /**
   * `read`: the object as the caller just read it (its first attempt skips a read of its own).
   * `readMayBeStale`: it came from `peek`. The write is conditional on its version anyway, so a
   * stale start costs a conflict and a fresh read; only an answer without a write (a superseded
   * or unchanged report) is confirmed against a fresh read first.
   */
  async replaceStatus(kind: KindInfo, namespace: string | undefined, name: string, body: unknown, req: WriteRequest = {}, read?: StoredObject, readMayBeStale = false): Promise<StoredObject> {
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ApiError("BadRequest", `the request body must be a JSON object (a ${kind.kind})`);
    const b = body as Record<string, any>;
    if (b.metadata?.name !== undefined && b.metadata.name !== name) {
      throw new ApiError("BadRequest", `the name of the object (${b.metadata.name}) does not match the name on the URL (${name})`);
    }
    const pinned = expectedVersion(kind, name, b.metadata?.resourceVersion);
    for (let attempt = 0; ; attempt++) {
      const stale = attempt === 0 && read !== undefined && readMayBeStale;
      const current = attempt === 0 && read ? read : await this.get(kind, namespace, name);
      try {
        const { object, written, superseded } = await this.writeStatus(kind, current, b, pinned, req);
        if (!written && stale) continue;
        if (superseded) throw supersededReport(current, superseded);
        return object;
      } catch (err) {
        // Without a pinned version the write is unconditional (as a Kubernetes update without
        // resourceVersion): retry against what is current; task reports stay ordered regardless.
        // A pinned write is conditional on the pin, not on where it started: its conflict stands.
        if (err instanceof StoreError && err.reason === "Conflict" && pinned === undefined && attempt < PATCH_RETRIES) continue;
        throw err;
      }
    }
  }

  private async writeStatus(
    kind: KindInfo,
    current: StoredObject,
    body: Record<string, any>,
    expected: string | undefined,
    req: WriteRequest,
  ): Promise<{ object: StoredObject; written: boolean; superseded?: Record<string, any> }> {
    const status = validateStatus(kind, body.status, current.metadata.name) as Record<string, any>;
    if (kind.kind === "Task" && !taskReportApplies(current.status ?? {}, status)) {
      // The same final report again (a retry whose first answer was lost) was applied: as
      // before, 200 with the task. Anything else the task moved past is not applied: 409.
      if (repeatsFinalReport(current.status ?? {}, status)) return { object: current, written: false };
      return { object: current, written: false, superseded: status };
    }
    if (req.dryRun) {
      const preview = { ...current, status };
      this.store.checkObjectSize(kind, preview, current);
      return { object: preview, written: true };
    }
    // As Kubernetes: a write that changes nothing is not written (no new version, no watch event).
    if ((expected === undefined || expected === current.metadata.resourceVersion) && isDeepStrictEqual(status, current.status ?? {})) {
      return { object: current, written: false };
    }
    const updated = await this.store.updateStatus(kind, current, status, expected !== undefined ? { expectedResourceVersion: expected } : {});
    this.options.onWrite?.(kind, updated, "update");
    return { object: updated, written: true };
  }

  private async writeSpec(kind: KindInfo, current: StoredObject, obj: ValidatedObject, expected: string | undefined, req: WriteRequest, applied?: ManagedFieldsEntry[]): Promise<StoredObject> {
    // Ownership: an apply's own result; else what the client sent (kubectl's move from client-side
    // to server-side apply rewrites it), else the stored one, with this write's changes recorded.
    const sent = applied ? undefined : sentManagedFields(kind, current.metadata.name, obj.metadata.managedFields);
    delete obj.metadata.managedFields;
    const base = applied ?? sent ?? current.metadata.managedFields ?? [];
    const managed = applied ?? (req.fieldManager ? managedAfterUpdate(kind, current, obj, base, req.fieldManager) : base);
    // Set even when empty: the store keeps the stored entries only for a writer that says nothing.
    obj.metadata.managedFields = managed;
    if (kind.kind === "Tenant") {
      const keep = current.metadata.finalizers?.includes(TENANT_FINALIZER) && !current.metadata.deletionTimestamp;
      if (keep && !obj.metadata.finalizers?.includes(TENANT_FINALIZER)) {
        obj.metadata.finalizers = [...(obj.metadata.finalizers ?? []), TENANT_FINALIZER];
      }
    }
    if (kind.namespaced) {
      const tenant = await this.reader.get(TENANT, undefined, current.metadata.namespace!);
      admitPriority(kind, obj, tenant ?? undefined, this.options.admission ?? {}, current);
    }
    if (req.dryRun) {
      const { labels: _l, annotations: _a, ...meta } = current.metadata;
      const preview: StoredObject = {
        ...current,
        ...(kind.kind === "Event" ? obj : { spec: obj.spec }),
        metadata: { ...meta, ...metadataMaps(obj.metadata.labels, obj.metadata.annotations), ...(managed.length > 0 ? { managedFields: managed } : {}) },
      } as StoredObject;
      if (managed.length === 0) delete preview.metadata.managedFields;
      this.store.checkObjectSize(kind, preview, current);
      return req.planPreview ? this.withPlan(kind, preview) : preview;
    }
    if ((expected === undefined || expected === current.metadata.resourceVersion) && specUnchanged(kind, current, obj)) return current;
    const updated = await this.store.update(kind, current, obj, expected !== undefined ? { expectedResourceVersion: expected } : {});
    this.options.onWrite?.(kind, updated, updated.metadata.deletionTimestamp && !updated.metadata.finalizers?.length ? "delete" : "update");
    return updated;
  }

  /** Deletes one object (see deletion.ts): finalizers, cascades, preconditions. */
  delete(kind: KindInfo, namespace: string | undefined, name: string, options: DeleteRequest = {}): Promise<StoredObject> {
    return deleteObject(this.deletion, kind, namespace, name, options);
  }

  /** Deletes what a collection's selectors match, each as its own delete would (see deletion.ts). */
  deleteCollection(kind: KindInfo, options: ListOptions, visibleTo: (obj: StoredObject) => boolean, req: DeleteCollectionRequest = {}): Promise<{ resourceVersion: string; items: StoredObject[] }> {
    return deleteCollection(this.deletion, kind, options, visibleTo, req);
  }

  private get deletion(): DeletionDeps {
    return { get: (kind, namespace, name) => this.get(kind, namespace, name), store: this.store, ...(this.options.onWrite ? { onWrite: this.options.onWrite } : {}) };
  }

  private async withPlan(kind: KindInfo, obj: StoredObject): Promise<StoredObject> {
    if (!this.options.dryRunPlanner || (kind.kind !== "InferenceService" && kind.kind !== "TrainingJob")) return obj;
    const status = await this.options.dryRunPlanner(kind, obj);
    return status === undefined ? obj : { ...obj, status };
  }
}

/**
 * Whether writing `obj` over `current` changes nothing a client can see: Kubernetes skips such
 * writes (kubectl apply of an unchanged manifest must not bump the resourceVersion). Events are
 * always written.
 */
export function specUnchanged(kind: KindInfo, current: StoredObject, obj: ValidatedObject): boolean {
  if (kind.kind === "Event") return false;
  const m = obj.metadata;
  const c = current.metadata;
  return (
    isDeepStrictEqual(m.labels ?? {}, c.labels ?? {}) &&
    isDeepStrictEqual(m.annotations ?? {}, c.annotations ?? {}) &&
    isDeepStrictEqual(m.ownerReferences ?? [], c.ownerReferences ?? []) &&
    isDeepStrictEqual(m.finalizers ?? [], c.finalizers ?? []) &&
    isDeepStrictEqual(m.managedFields ?? [], c.managedFields ?? []) &&
    isDeepStrictEqual(obj.spec ?? {}, current.spec ?? {})
  );
}
