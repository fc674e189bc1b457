import type { ApiObject, ObjectMeta } from "@eiaas/api";

/** Any object the API returns (the kinds' typed shapes live in @eiaas/api). */
export type AnyObject = ApiObject<any, any>;

/** A list answer: `<Kind>List` with the list's resourceVersion (and `continue` when paged). */
export interface ObjectList<T = AnyObject> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

/** A `meta.k8s.io/v1` Table column. */
export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  /** 0: always shown; 1: only with `-o wide`. */
  priority: number;
}

/** A Table row; `object` is a PartialObjectMetadata unless `includeObject` asked otherwise. */
export interface TableRow {
  cells: Array<string | number | boolean | null>;
  object?: { kind?: string; apiVersion?: string; metadata?: Partial<ObjectMeta> } & Record<string, unknown>;
}

/** Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`). */
export interface Table {
  kind: "Table";
  apiVersion: string;
  metadata: { resourceVersion?: string; continue?: string };
  columnDefinitions: TableColumn[];
  rows: TableRow[];
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

/** One change seen by a watch. `object` is the object, or a one-row Table for table watches. */
export interface WatchEvent<T = AnyObject> {
  type: WatchEventType;
  object: T;
}

/** A minted token: the secret is shown only in the answer to its creation. */
export interface Token {
  apiVersion: string;
  kind: "Token";
  metadata: { name: string; creationTimestamp?: string };
  token?: string;
  expiresAt?: string;
  /** Bootstrap tokens: registrations allowed (absent: no limit) and made so far. */
  maxUses?: number;
  uses?: number;
}

export interface TokenList {
  apiVersion: string;
  kind: "TokenList";
  metadata: Record<string, unknown>;
  items: Token[];
}

/** One endpoint of a service (design.md §3 discovery). */
export interface Endpoint {
  node: string;
  address?: string;
  role: string;
  task: string;
  /** The service it belongs to (discovery across a namespace names it). */
  service?: string;
  /** Latency predicted from the asking client, ms (a very large number: no path to it). */
  predicted?: { latencyMs: number };
}

/**
 * A client's entry point into a service (`GET .../inferenceservices/{name}/entry?client=N`): its
 * plan and the task at the start of it, where its inputs go.
 */
export interface InferenceEntry {
  apiVersion: string;
  kind: "InferenceEntry";
  service: string;
  client: string;
  plan: {
    client: string;
    architecture: string;
    split: number;
    headNode?: string;
    tailNode?: string;
    variant: string;
    exitAfterLayer: number;
    predicted: { latencyMs: number; deviceEnergyMj: number; accuracy: number; uplinkBytes: number };
  };
  entry: { node: string; role: "serve" | "head"; task?: string; address?: string; phase?: string };
}

/** Endpoints, ranked by predicted latency from the asking client. */
export interface EndpointList {
  apiVersion: string;
  kind: "EndpointList";
  metadata: Record<string, unknown>;
  items: Endpoint[];
}

/** `/version` (Kubernetes' version.Info). */
export interface VersionInfo {
  major: string;
  minor: string;
  gitVersion: string;
  gitCommit: string;
  gitTreeState: string;
  buildDate: string;
  goVersion: string;
  compiler: string;
  platform: string;
}

/** One entry of `/apis/eiaas.io/v1alpha1` (an APIResourceList). */
export interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
}

export interface ApiResourceList {
  kind: "APIResourceList";
  apiVersion: string;
  groupVersion: string;
  resources: ApiResource[];
}
