import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { API_PREFIX, lookupKind, type ClientLatencyReport, type KindInfo, type SegmentTiming } from "@eiaas/api";
import { Transport, type ConnectionOptions, type QueryValue, type RawRequest } from "./transport.js";
import type { AnyObject, ApiResourceList, EndpointList, InferenceEntry, ObjectList, Table, Token, TokenList, VersionInfo } from "./types.js";
import { Watch, type WatchOptions } from "./watch.js";

/** A kind, by its KindInfo or any name `lookupKind` knows (`isvc`, `nodes`, `InferenceService`...). */
export type KindRef = KindInfo | string;

/** Media type of server-side printing, as kubectl asks for it. */
export const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

export interface ListOptions {
  /** Namespace of a namespaced kind; absent lists every namespace the token may see. */
  namespace?: string;
  /** Label selector in string form (`tier=device,app in (a,b)`). */
  labelSelector?: string;
  /** Field selector (`spec.nodeName=n1,status.phase!=Running`). */
  fieldSelector?: string;
  /** Page size; absent returns everything in one answer. */
  limit?: number;
  /** Continue token of the previous page. */
  continue?: string;
  signal?: AbortSignal;
}

export interface TableOptions extends Omit<ListOptions, "continue"> {
  /** One object's row instead of a list. */
  name?: string;
  /** What each row's `object` holds. Default `Metadata` (a PartialObjectMetadata). */
  includeObject?: "None" | "Metadata" | "Object";
}

export interface ObjectOptions {
  /** Namespace of a namespaced kind (defaults to the object's `metadata.namespace` on writes). */
  namespace?: string;
  signal?: AbortSignal;
}

export interface WriteOptions extends ObjectOptions {
  /** Validate and plan on the server without storing (`?dryRun=All&planPreview=true`: a workload's status is its plan). Default false. */
  dryRun?: boolean;
}

export interface PatchOptions extends WriteOptions {
  /** `merge` (application/merge-patch+json, default) or `json` (RFC 6902). */
  type?: "merge" | "json";
  /** Patch the `/status` subresource instead of the object. */
  subresource?: "status";
}

export interface DeleteOptions extends WriteOptions {
  /** Only delete when the stored object still has this uid / resourceVersion. */
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface MintTokenOptions {
  /** Token name; the server generates one when absent. */
  name?: string;
  /** Expiry time. Default: never for tenant tokens, 24 h for bootstrap tokens. */
  expiresAt?: Date | string;
  /** Lifetime from now, in seconds, instead of expiresAt; 0: never expires. */
  ttlSeconds?: number;
  /** Bootstrap tokens: how many registrations the token may make; 0: no limit. Default 1. */
  maxUses?: number;
}

export interface LogOptions {
  /** Keep the stream open and print new output as it comes (`?follow=true`). Default false. */
  follow?: boolean;
  /** Only the last N lines (`?tailLines=N`). Default: all the agent kept. */
  tailLines?: number;
  signal?: AbortSignal;
}

export interface PutArtifactOptions {
  /** Length of a stream body (sent as Content-Length; a stream without it goes chunked). */
  sizeBytes?: number;
  /** The head of the Model's early exit after this layer (`?exit=N`) instead of its base graph. */
  exit?: number;
  signal?: AbortSignal;
}

export interface GetArtifactOptions {
  /** The sha256 of a copy the caller has: answered `notModified` when it is still current. */
  ifNoneMatch?: string;
  /** The head of the Model's early exit after this layer (`?exit=N`) instead of its base graph. */
  exit?: number;
  signal?: AbortSignal;
}

/** A Model's artifact as the server answered it. */
export type ModelArtifact =
  | { notModified: false; /** The file, for the caller to read (or destroy). */ stream: IncomingMessage; /** From the ETag. */ sha256: string; sizeBytes: number }
  | { notModified: true; sha256: string };

/** Resolves a kind reference, throwing a TypeError that names the unknown kind. */
export function resolveKind(kind: KindRef): KindInfo {
  if (typeof kind !== "string") return kind;
  const info = lookupKind(kind);
  if (!info) throw new TypeError(`the server doesn't have a resource type "${kind}"`);
  return info;
}

/**
 * Typed client of the eiaas API (design.md §3): the generic verbs for every kind, the status
 * subresource, server-side tables, watches that survive reconnects, the token API, discovery and
 * task logs. Errors are ApiRequestError (with the server's Status) or ConnectionError.
 */
export class EiaasClient {
  readonly transport: Transport;

  constructor(options: ConnectionOptions) {
    this.transport = new Transport(options);
  }

  /** Base URL of the server. */
  get server(): string {
    return this.transport.server;
  }

  /** Any request; answers parsed JSON (or the text when the answer is not JSON). */
  async request<T = unknown>(req: RawRequest): Promise<T> {
    const res = await this.transport.request(req);
    const type = String(res.headers["content-type"] ?? "");
    if (res.body === "") return undefined as T;
    return (type.includes("json") ? JSON.parse(res.body) : res.body) as T;
  }

  /** Path of a collection or object: `/apis/eiaas.io/v1alpha1[/namespaces/{ns}]/{plural}[/{name}[/status]]`. */
  path(kind: KindRef, namespace?: string, name?: string, subresource?: string): string {
    const k = resolveKind(kind);
    if (k.namespaced && name !== undefined && !namespace) throw new TypeError(`${k.plural} are namespaced: a namespace is needed for "${name}"`);
    let p = API_PREFIX;
    if (k.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${k.plural}`;
    if (name !== undefined) p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
    return p;
  }

  get<T = AnyObject>(kind: KindRef, name: string, opts: ObjectOptions = {}): Promise<T> {
    return this.request<T>({ method: "GET", path: this.path(kind, opts.namespace, name), ...signal(opts) });
  }

  getStatus<T = AnyObject>(kind: KindRef, name: string, opts: ObjectOptions = {}): Promise<T> {
    return this.request<T>({ method: "GET", path: this.path(kind, opts.namespace, name, "status"), ...signal(opts) });
  }

  /** One page of a list (everything when no `limit` is given). */
  list<T = AnyObject>(kind: KindRef, opts: ListOptions = {}): Promise<ObjectList<T>> {
    return this.request<ObjectList<T>>({
      method: "GET",
      path: this.path(kind, opts.namespace),
      query: { labelSelector: opts.labelSelector || undefined, fieldSelector: opts.fieldSelector || undefined, limit: opts.limit, continue: opts.continue },
      ...signal(opts),
    });
  }

  /** Every page of a list, following `continue` tokens; the resourceVersion is the first page's. */
  async listAll<T = AnyObject>(kind: KindRef, opts: Omit<ListOptions, "continue"> = {}): Promise<ObjectList<T>> {
    const first = await this.list<T>(kind, opts);
    let next = first.metadata.continue;
    while (next) {
      const page = await this.list<T>(kind, { ...opts, continue: next });
      first.items.push(...page.items);
      next = page.metadata.continue;
    }
    delete first.metadata.continue;
    return first;
  }

  /** Server-side printing of a list (or of one object with `name`). */
  table(kind: KindRef, opts: TableOptions = {}): Promise<Table> {
    const query: Record<string, QueryValue> = { includeObject: opts.includeObject };
    if (opts.name === undefined) Object.assign(query, { labelSelector: opts.labelSelector || undefined, fieldSelector: opts.fieldSelector || undefined, limit: opts.limit });
    return this.request<Table>({ method: "GET", path: this.path(kind, opts.namespace, opts.name), query, accept: TABLE_ACCEPT, ...signal(opts) });
  }

  create<T = AnyObject>(kind: KindRef, obj: object, opts: WriteOptions = {}): Promise<T> {
    const ns = opts.namespace ?? metaOf(obj).namespace;
    return this.request<T>({ method: "POST", path: this.path(kind, ns), query: dryRun(opts), body: obj, ...signal(opts) });
  }

  /** PUT: the whole object, with `metadata.resourceVersion` for optimistic concurrency (stale → 409). */
  replace<T = AnyObject>(kind: KindRef, obj: object, opts: WriteOptions = {}): Promise<T> {
    const meta = metaOf(obj);
    return this.request<T>({ method: "PUT", path: this.path(kind, opts.namespace ?? meta.namespace, requireName(meta)), query: dryRun(opts), body: obj, ...signal(opts) });
  }

  replaceStatus<T = AnyObject>(kind: KindRef, obj: object, opts: WriteOptions = {}): Promise<T> {
    const meta = metaOf(obj);
    return this.request<T>({ method: "PUT", path: this.path(kind, opts.namespace ?? meta.namespace, requireName(meta), "status"), query: dryRun(opts), body: obj, ...signal(opts) });
  }

  patch<T = AnyObject>(kind: KindRef, name: string, patch: unknown, opts: PatchOptions = {}): Promise<T> {
    return this.request<T>({
      method: "PATCH",
      path: this.path(kind, opts.namespace, name, opts.subresource),
      query: dryRun(opts),
      body: patch,
      contentType: opts.type === "json" ? "application/json-patch+json" : "application/merge-patch+json",
      ...signal(opts),
    });
  }

  /** Deletes an object; answers it as the server last saw it (with deletionTimestamp while finalizers run). */
  delete<T = AnyObject>(kind: KindRef, name: string, opts: DeleteOptions = {}): Promise<T> {
    const body = opts.preconditions ? { kind: "DeleteOptions", apiVersion: "v1", preconditions: opts.preconditions } : undefined;
    return this.request<T>({ method: "DELETE", path: this.path(kind, opts.namespace, name), query: dryRun(opts), ...(body ? { body } : {}), ...signal(opts) });
  }

  /** A watch as an async iterator that resumes after reconnects and relists on 410 Gone. */
  watch<T = AnyObject>(kind: KindRef, opts: WatchOptions = {}): Watch<T> {
    return new Watch<T>(this, resolveKind(kind), opts);
  }

  /** Mints a tenant token (admin): the answer carries the secret, shown only this once. */
  createToken(tenant: string, opts: MintTokenOptions = {}): Promise<Token> {
    return this.request<Token>({ method: "POST", path: `${API_PREFIX}/tenants/${encodeURIComponent(tenant)}/tokens`, body: mintBody(opts) });
  }

  listTokens(tenant: string): Promise<TokenList> {
    return this.request<TokenList>({ method: "GET", path: `${API_PREFIX}/tenants/${encodeURIComponent(tenant)}/tokens` });
  }

  async deleteToken(tenant: string, name: string): Promise<void> {
    await this.request({ method: "DELETE", path: `${API_PREFIX}/tenants/${encodeURIComponent(tenant)}/tokens/${encodeURIComponent(name)}` });
  }

  /** Mints a bootstrap token for agents to register with (admin). */
  createBootstrapToken(opts: MintTokenOptions = {}): Promise<Token> {
    return this.request<Token>({ method: "POST", path: `${API_PREFIX}/bootstraptokens`, body: mintBody(opts) });
  }

  listBootstrapTokens(): Promise<TokenList> {
    return this.request<TokenList>({ method: "GET", path: `${API_PREFIX}/bootstraptokens` });
  }

  async deleteBootstrapToken(name: string): Promise<void> {
    await this.request({ method: "DELETE", path: `${API_PREFIX}/bootstraptokens/${encodeURIComponent(name)}` });
  }

  /**
   * A service's endpoints ranked by the latency predicted from `client`, a node name
   * (`GET .../inferenceservices/{name}/endpoints?client=`; NotFound when the client is unknown).
   */
  serviceEndpoints(namespace: string, name: string, client: string): Promise<EndpointList> {
    return this.request<EndpointList>({ method: "GET", path: this.path("InferenceService", namespace, name, "endpoints"), query: { client } });
  }

  /**
   * Where `client` (a node name) sends its inputs to a service: the task at the start of its plan
   * (`GET .../inferenceservices/{name}/entry?client=`; NotFound when the client is not planned).
   */
  serviceEntry(namespace: string, name: string, client: string): Promise<InferenceEntry> {
    return this.request<InferenceEntry>({ method: "GET", path: this.path("InferenceService", namespace, name, "entry"), query: { client } });
  }

  /**
   * The endpoints of every Running service of a namespace whose model has `capability`, ranked by
   * the latency predicted from `client` (`GET .../namespaces/{ns}/discovery`).
   */
  discover(namespace: string, capability: string, client: string): Promise<EndpointList> {
    return this.request<EndpointList>({ method: "GET", path: `${API_PREFIX}/namespaces/${encodeURIComponent(namespace)}/discovery`, query: { capability, client } });
  }

  /**
   * Reports what a node's serving tasks measured (agent token of that node): per task and layer
   * range, the median time over `count` requests (`POST .../edgenodes/{node}/segment-timings`, at
   * most 256 timings). Forbidden, with a cause per timing, when one names a task not on the node.
   */
  reportSegmentTimings(nodeName: string, timings: readonly SegmentTiming[]): Promise<{ profiles: { written: number; unchanged: number; deferred: number } }> {
    return this.request({ method: "POST", path: `${API_PREFIX}/edgenodes/${encodeURIComponent(nodeName)}/segment-timings`, body: { timings } });
  }

  /**
   * Reports a client's measured end-to-end latency of a service (`POST .../inferenceservices/{name}/latency`):
   * admins, the namespace's tenant, or the client node's agent. The service re-plans when it is
   * more than 20% off the plan's prediction and a better plan exists.
   */
  reportClientLatency(namespace: string, service: string, report: ClientLatencyReport): Promise<{ written: boolean; predictedMs: number | null; measuredMs: number; planRevision: number }> {
    return this.request({ method: "POST", path: this.path("InferenceService", namespace, service, "latency"), body: report });
  }

  /** The server's `/version`. */
  version(): Promise<VersionInfo> {
    return this.request<VersionInfo>({ method: "GET", path: "/version" });
  }

  /** Discovery of the group-version: every kind and subresource the server serves. */
  apiResources(): Promise<ApiResourceList> {
    return this.request<ApiResourceList>({ method: "GET", path: API_PREFIX });
  }

  /**
   * The output of a task (`GET .../namespaces/{ns}/tasks/{name}/log`), as a stream the caller reads
   * (and destroys to stop following).
   */
  taskLog(namespace: string, name: string, opts: LogOptions = {}): Promise<IncomingMessage> {
    return this.transport.stream({
      method: "GET",
      path: this.path("Task", namespace, name, "log"),
      query: { follow: opts.follow ? "true" : undefined, tailLines: opts.tailLines },
      accept: "text/plain, */*",
      ...signal(opts),
    });
  }

  /**
   * Uploads a Model's ONNX file (`PUT .../models/{name}/artifact`, application/octet-stream): bytes,
   * or a stream (with `sizeBytes` when known). Answers the Model, its `status.artifact` recording
   * the stored file's digest. The upload is checked as ONNX by the server (422 otherwise).
   */
  putModelArtifact<T = AnyObject>(namespace: string, name: string, body: Uint8Array | Readable, opts: PutArtifactOptions = {}): Promise<T> {
    return this.request<T>({
      method: "PUT",
      path: this.path("Model", namespace, name, "artifact"),
      ...(opts.exit !== undefined ? { query: { exit: opts.exit } } : {}),
      body,
      contentType: "application/octet-stream",
      ...(opts.sizeBytes !== undefined ? { contentLength: opts.sizeBytes } : {}),
      ...signal(opts),
    });
  }

  /**
   * A Model's ONNX file (`GET .../models/{name}/artifact`) as a stream, with its sha256 (the ETag)
   * and size; `notModified` when `ifNoneMatch` names the current file. NotFound when the Model has
   * no artifact or the token may not read it. The caller verifies the digest of what it read.
   */
  async getModelArtifact(namespace: string, name: string, opts: GetArtifactOptions = {}): Promise<ModelArtifact> {
    const res = await this.transport.stream({
      method: "GET",
      path: this.path("Model", namespace, name, "artifact"),
      ...(opts.exit !== undefined ? { query: { exit: opts.exit } } : {}),
      accept: "application/octet-stream",
      ...(opts.ifNoneMatch ? { headers: { "If-None-Match": `"${opts.ifNoneMatch}"` } } : {}),
      ...signal(opts),
    });
    const sha256 = String(res.headers.etag ?? "")
      .replace(/^W\//, "")
      .replace(/"/g, "");
    if (res.statusCode === 304) {
      res.resume();
      return { notModified: true, sha256: sha256 || opts.ifNoneMatch! };
    }
    return { notModified: false, stream: res, sha256, sizeBytes: Number(res.headers["content-length"] ?? NaN) };
  }

  /** Closes pooled connections. */
  close(): void {
    this.transport.close();
  }
}

function signal(opts: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return opts.signal ? { signal: opts.signal } : {};
}

function dryRun(opts: WriteOptions): Record<string, QueryValue> {
  return opts.dryRun ? { dryRun: "All", planPreview: "true" } : {};
}

function metaOf(obj: object): { name?: string; namespace?: string } {
  const m = (obj as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
  return {
    ...(typeof m?.name === "string" ? { name: m.name } : {}),
    ...(typeof m?.namespace === "string" ? { namespace: m.namespace } : {}),
  };
}

function requireName(meta: { name?: string }): string {
  if (!meta.name) throw new TypeError("the object has no metadata.name");
  return meta.name;
}

function mintBody(opts: MintTokenOptions): object {
  const expiresAt = opts.expiresAt instanceof Date ? opts.expiresAt.toISOString() : opts.expiresAt;
  return {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "Token",
    ...(opts.name ? { metadata: { name: opts.name } } : {}),
    ...(expiresAt ? { expiresAt } : {}),
    ...(opts.ttlSeconds !== undefined ? { ttlSeconds: opts.ttlSeconds } : {}),
    ...(opts.maxUses !== undefined ? { maxUses: opts.maxUses } : {}),
  };
}
