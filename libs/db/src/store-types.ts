// The options and shapes of ObjectStore's calls.
import type { FieldRequirement, LabelRequirement } from "@eiaas/api";
import type { StoredObject } from "./codec.js";
import type { CountQuota } from "./write-sql.js";

export interface ListOptions {
  /** Restrict to one namespace (namespaced kinds); absent = all namespaces. */
  namespace?: string;
  labels?: LabelRequirement[];
  fields?: FieldRequirement[];
  /** Page size; absent or 0 = everything. */
  limit?: number;
  /** The `continue` token of the previous page. */
  continue?: string;
}

export interface ListResult {
  items: StoredObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** The parts of an object a client controls on create. */
export interface NewObject {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: StoredObject["metadata"]["ownerReferences"];
    finalizers?: string[];
    /** Field ownership, as the API server computed it (a writer without it keeps the stored one). */
    managedFields?: StoredObject["metadata"]["managedFields"];
  };
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

export interface WriteOptions {
  /** Only succeed if the stored object still has this resourceVersion (else Conflict). */
  expectedResourceVersion?: string;
}

export interface CreateOptions {
  /**
   * Check the tenant's object-count quota (`spec.quota."count/<resource>"`, else this default) in
   * the statement that inserts: Forbidden when the namespace already holds that many. Only for the
   * counted kinds (`COUNTED_RESOURCES`); ignored for the others.
   */
  countQuota?: CountQuota;
}

export interface ObjectStoreOptions {
  /**
   * Largest object `create`, `update` and `updateStatus` write, serialised, in bytes
   * (RequestEntityTooLarge beyond, unless the write does not grow the object). Default 1.5 MiB
   * (etcd's request limit).
   */
  maxObjectBytes?: number;
}
