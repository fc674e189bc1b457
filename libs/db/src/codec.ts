import { API_VERSION, type KindInfo, type KindName, type ObjectMeta } from "@eiaas/api";

/** What every stored object looks like to callers (spec/status kinds and Event alike). */
export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  [field: string]: unknown;
}

/** A row of any kind's table, as Postgres returns it. */
export interface ObjectRow {
  uid: string;
  namespace: string;
  name: string;
  resource_version: bigint | string | number;
  generation: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  owner_references: any[];
  finalizers: string[];
  managed_fields?: any[];
  creation_timestamp: Date | string;
  deletion_timestamp: Date | string | null;
  spec: any;
  status: any;
  [column: string]: unknown;
}

/** Kubernetes prints timestamps at second precision in RFC 3339. */
export function formatTime(t: Date | string): string {
  const d = typeof t === "string" ? new Date(t) : t;
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Labels and annotations as a metadata fragment: an empty map is left out, as Kubernetes'
 * `omitempty` does (clients diffing objects saw `labels: {}` that no manifest has).
 */
export function metadataMaps(labels: Record<string, string> | null | undefined, annotations: Record<string, string> | null | undefined): Pick<ObjectMeta, "labels" | "annotations"> {
  const hasLabels = labels != null && Object.keys(labels).length > 0;
  const hasAnnotations = annotations != null && Object.keys(annotations).length > 0;
  if (hasLabels && hasAnnotations) return { labels, annotations };
  if (hasLabels) return { labels };
  return hasAnnotations ? { annotations } : {};
}

export function rowToObject(kind: KindInfo, row: ObjectRow): StoredObject {
  const metadata: ObjectMeta = {
    name: row.name,
    ...(kind.namespaced ? { namespace: row.namespace } : {}),
    uid: row.uid,
    resourceVersion: String(row.resource_version),
    generation: row.generation,
    ...metadataMaps(row.labels, row.annotations),
    creationTimestamp: formatTime(row.creation_timestamp),
  };
  if (row.deletion_timestamp) metadata.deletionTimestamp = formatTime(row.deletion_timestamp);
  if (row.owner_references?.length) metadata.ownerReferences = row.owner_references;
  if (row.finalizers?.length) metadata.finalizers = row.finalizers;
  if (row.managed_fields?.length) metadata.managedFields = row.managed_fields;
  if (kind.kind === "Event") {
    return { apiVersion: API_VERSION, kind: kind.kind, metadata, ...(row.spec ?? {}) };
  }
  return { apiVersion: API_VERSION, kind: kind.kind, metadata, spec: row.spec ?? {}, status: row.status ?? {} };
}

/**
 * The object with its fields in the order a read of its row gives (`rowToObject`): the watch log
 * keeps objects as jsonb, which orders keys its own way, and a client should not see the same
 * object printed two ways.
 */
export function canonicalObject(kind: KindInfo, obj: StoredObject): StoredObject {
  const m = obj.metadata;
  const metadata: ObjectMeta = {
    name: m.name,
    ...(kind.namespaced ? { namespace: m.namespace } : {}),
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    generation: m.generation,
    ...metadataMaps(m.labels, m.annotations),
    creationTimestamp: m.creationTimestamp,
  };
  if (m.deletionTimestamp) metadata.deletionTimestamp = m.deletionTimestamp;
  if (m.ownerReferences?.length) metadata.ownerReferences = m.ownerReferences;
  if (m.finalizers?.length) metadata.finalizers = m.finalizers;
  if (m.managedFields?.length) metadata.managedFields = m.managedFields;
  const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = obj;
  if (kind.kind === "Event") return { apiVersion: API_VERSION, kind: kind.kind, metadata, ...rest };
  return { apiVersion: API_VERSION, kind: kind.kind, metadata, spec: obj.spec ?? {}, status: obj.status ?? {} };
}

/** Splits an Event into the body kept in the `spec` column. */
export function eventBodyOf(obj: StoredObject): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata: _m, spec: _s, status: _st, ...body } = obj;
  return body;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Kind-specific columns lifted out of spec/status so lists, selectors and controllers can use
 * indexes (see prisma/schema.prisma).
 */
export function extraColumns(kind: KindName, obj: StoredObject): Record<string, unknown> {
  const spec = obj.spec ?? {};
  const status = obj.status ?? {};
  switch (kind) {
    case "EdgeNode":
      return { phase: status.phase ?? "", tier: spec.tier ?? "", parent: spec.parent ?? null };
    case "Tenant":
    case "Model":
    case "ModelProfile":
      return { phase: status.phase ?? "" };
    case "InferenceService":
    case "TrainingJob":
      return { phase: status.phase ?? "", model_name: spec.model ?? "" };
    case "Task": {
      const owner = (obj.metadata.ownerReferences ?? []).find((o) => o.controller) ?? obj.metadata.ownerReferences?.[0];
      return {
        phase: status.phase ?? "",
        node_name: spec.nodeName ?? "",
        // A uuid column: an owner uid that is no uuid names no object of ours (as involved_uid below).
        owner_uid: owner?.uid && UUID.test(owner.uid) ? owner.uid : null,
        attempt: status.attempt ?? 0,
      };
    }
    case "Event": {
      const inv = (obj as { involvedObject?: { uid?: string; kind?: string; name?: string } }).involvedObject ?? {};
      return {
        involved_uid: inv.uid && UUID.test(inv.uid) ? inv.uid : null,
        involved_kind: inv.kind ?? "",
        involved_name: inv.name ?? "",
      };
    }
  }
}

/** SQL casts of the kind-specific columns. */
export const EXTRA_COLUMN_TYPES: Record<string, string> = {
  phase: "text",
  tier: "text",
  parent: "text",
  model_name: "text",
  node_name: "text",
  owner_uid: "uuid",
  attempt: "int",
  involved_uid: "uuid",
  involved_kind: "text",
  involved_name: "text",
};

/** Event fields kept only in the body (`spec` column), as client-go's Event field selectors name them. */
const EVENT_BODY_FIELDS: Record<string, string> = {
  "involvedObject.namespace": "{involvedObject,namespace}",
  "involvedObject.apiVersion": "{involvedObject,apiVersion}",
  "involvedObject.resourceVersion": "{involvedObject,resourceVersion}",
  "involvedObject.fieldPath": "{involvedObject,fieldPath}",
  reason: "{reason}",
  type: "{type}",
  // Kubernetes' `source` selector reads `source.component`.
  source: "{source,component}",
  "source.component": "{source,component}",
  reportingComponent: "{reportingComponent}",
};

/**
 * Field selectors each kind supports, as the SQL expression they read (text; a missing field
 * reads as "", as Kubernetes' field sets have it). Only the lifted columns are indexed; the Event
 * body fields are filtered within what the namespace and the indexed fields narrowed.
 */
export function fieldExpression(kind: KindInfo, field: string): string | undefined {
  const column = fieldColumn(kind, field);
  if (column) return column === "involved_uid" ? `COALESCE("involved_uid"::text, '')` : `"${column}"`;
  const path = kind.kind === "Event" ? EVENT_BODY_FIELDS[field] : undefined;
  return path ? `COALESCE(spec #>> '${path}', '')` : undefined;
}

/** In-memory name of a field selector (watch events): the field of the object it reads. */
export function fieldPath(kind: KindInfo, field: string): string {
  return kind.kind === "Event" && field === "source" ? "source.component" : field;
}

/** Field selectors each kind supports in a lifted column, and the column they read. */
function fieldColumn(kind: KindInfo, field: string): string | undefined {
  switch (field) {
    case "metadata.name":
      return "name";
    case "metadata.namespace":
      return kind.namespaced ? "namespace" : undefined;
    case "status.phase":
      return kind.kind === "Event" ? undefined : "phase";
    case "spec.nodeName":
      return kind.kind === "Task" ? "node_name" : undefined;
    case "spec.tier":
      return kind.kind === "EdgeNode" ? "tier" : undefined;
    case "spec.model":
      return kind.kind === "InferenceService" || kind.kind === "TrainingJob" ? "model_name" : undefined;
    case "involvedObject.name":
      return kind.kind === "Event" ? "involved_name" : undefined;
    case "involvedObject.kind":
      return kind.kind === "Event" ? "involved_kind" : undefined;
    case "involvedObject.uid":
      return kind.kind === "Event" ? "involved_uid" : undefined;
    default:
      return undefined;
  }
}
