/**
 * The part of Kubernetes' core group (`/api/v1`) eiaas serves, over its own stores: `namespaces`
 * (a read-only view of the Tenants a caller may see) and `events` (the Events of eiaas.io, in
 * core v1's shape, which they already have). Stock clients need both: kubectl reads the namespace
 * after a NotFound to word its error, and `kubectl describe`/`kubectl events` read core Events.
 */
import { kindInfo, type KindInfo, type PrinterColumn } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";

/** An object of the core group as answers carry it. */
export interface CoreObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [field: string]: unknown;
}

/** One resource of the core group and the eiaas kind that stores it. */
export interface CoreResource {
  /** Resource name: the path segment and the discovery name. */
  plural: string;
  singular: string;
  /** Kind of core v1 that answers carry. */
  kind: string;
  namespaced: boolean;
  shortNames: readonly string[];
  /** Verbs served, as discovery lists them (sorted). */
  verbs: readonly string[];
  /** The eiaas kind whose store holds the objects (and whose RBAC rules apply). */
  stored: KindInfo;
  /** The stored kind with the core resource's printer columns, for server-side Tables. */
  printing: KindInfo;
  /** The core v1 object a stored one is seen as. */
  view(obj: StoredObject): CoreObject;
}

export const CORE_VERSION = "v1";

const TENANT = kindInfo("Tenant");
const EVENT = kindInfo("Event");

/** The label Kubernetes sets on every Namespace (selecting namespaces by name). */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** A Tenant seen as its Namespace: the tenant's name, labels, and Active or Terminating. */
export function namespaceOf(tenant: StoredObject): CoreObject {
  const m = tenant.metadata;
  const namespace: CoreObject & { metadata: Record<string, unknown> } = {
    apiVersion: CORE_VERSION,
    kind: "Namespace",
    metadata: {
      name: m.name,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
      labels: { ...m.labels, [NAMESPACE_NAME_LABEL]: m.name },
      ...(m.annotations && Object.keys(m.annotations).length > 0 ? { annotations: m.annotations } : {}),
    },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: m.deletionTimestamp ? "Terminating" : "Active" },
  };
  return namespace;
}

/** An eiaas Event as a core v1 Event (the same fields; kubectl describe reads them). */
export function coreEventOf(event: StoredObject): CoreObject {
  return { ...event, apiVersion: CORE_VERSION };
}

const namespaceColumns: PrinterColumn[] = [
  { name: "Status", type: "string", description: "Active or Terminating", get: (o) => o.status?.phase ?? "" },
  { name: "Age", type: "date", description: "Time since creation", get: (o) => o.metadata?.creationTimestamp ?? null },
];

export const CORE_RESOURCES: readonly CoreResource[] = [
  {
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
    shortNames: ["ns"],
    verbs: ["get", "list", "watch"],
    stored: TENANT,
    printing: { ...TENANT, columns: namespaceColumns },
    view: namespaceOf,
  },
  {
    plural: "events",
    singular: "event",
    kind: "Event",
    namespaced: true,
    shortNames: ["ev"],
    verbs: ["get", "list", "watch"],
    stored: EVENT,
    printing: EVENT,
    view: coreEventOf,
  },
];

/** The core resource a path segment names, if served. */
export function coreResource(plural: string): CoreResource | undefined {
  return CORE_RESOURCES.find((r) => r.plural === plural);
}
