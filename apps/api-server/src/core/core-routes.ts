import { Router, type NextFunction, type Request, type Response } from "express";
import type { ChangeFeed, ObjectStore } from "@eiaas/db";
import { authorize, visible, type Access, type Verb } from "../http/authz.js";
import { ApiError } from "../http/errors.js";
import { matchesSelectors, parseSelectors, type Selectors } from "../http/selectors.js";
import { presentTo } from "../http/views.js";
import { listSemantics } from "../http/list-semantics.js";
import type { ResourceService } from "../resources/service.js";
import { isNonNegativeInt64 } from "../resources/validate.js";
import { serveWatch } from "../routes/watch.js";
import { parseIncludeObject, tableContentType, tableVersion, toTable } from "../table.js";
import { CORE_VERSION, coreResource, NAMESPACE_NAME_LABEL, type CoreObject, type CoreResource } from "./core-resources.js";

export interface CoreRouteDeps {
  service: ResourceService;
  store: ObjectStore;
  feed: ChangeFeed;
  /** Watch bookmark period (tests shorten it). Default 10 s. */
  bookmarkIntervalMs?: number;
  /** Hears of server-side failures of a watch stream already answered. */
  onInternal: (err: unknown) => void;
}

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (h: Handler) => (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);
const param = (req: Request, name: string): string => {
  const v = req.params[name];
  return Array.isArray(v) ? v.join("/") : (v ?? "");
};
const flag = (v: unknown) => v === "true" || v === "1" || v === "";

/** The core NotFound: no group in `details`, as kube-apiserver answers for core resources. */
function coreNotFound(resource: string, name: string): ApiError {
  return new ApiError("NotFound", `${resource} "${name}" not found`, { name, kind: resource });
}

/** The resource a path names; a namespaced one under the cluster path is only a collection. */
function resourceOf(plural: string, namespaced: boolean, collection: boolean): CoreResource {
  const r = coreResource(plural);
  if (!r || (namespaced && !r.namespaced) || (!namespaced && r.namespaced && !collection)) {
    throw new ApiError("NotFound", `the server could not find the requested resource (${plural})`);
  }
  return r;
}

/**
 * What of the selectors Postgres can answer: a Namespace's name label and phase exist only in the
 * view of its Tenant, so they are matched in memory on the view.
 */
function sqlSelectors(r: CoreResource, s: Selectors): Selectors | undefined {
  if (r.plural !== "namespaces") return undefined;
  for (const f of s.fields) {
    if (f.field !== "metadata.name" && f.field !== "status.phase") throw new ApiError("BadRequest", `fieldSelector: field label not supported: ${f.field}`);
  }
  return { labels: s.labels.filter((l) => l.key !== NAMESPACE_NAME_LABEL), fields: s.fields.filter((f) => f.field === "metadata.name") };
}

function access(req: Request, verb: Verb, res: CoreResource, ns: string | undefined): Access {
  return authorize(req.principal!, verb, res.stored, ns);
}

/** One object or a list as JSON, or as a Table when the client prints server-side. */
function send(req: Request, res: Response, resource: CoreResource, body: object, objects: CoreObject[], listMeta?: object): void {
  const table = tableVersion(req.headers.accept);
  if (table) {
    const t = toTable(resource.printing, objects, { version: table, ...(listMeta ? { listMeta } : {}), includeObject: parseIncludeObject(req.query.includeObject) ?? "Metadata" });
    res.type(tableContentType(table)).send(JSON.stringify(t));
    return;
  }
  res.type("application/json").send(JSON.stringify(body));
}

function listHandler(deps: CoreRouteDeps, namespaced: boolean): Handler {
  return async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const resource = resourceOf(param(req, "plural"), namespaced, true);
    const watching = flag(req.query.watch);
    const a = access(req, watching ? "watch" : "list", resource, ns);
    const { sendInitialEvents } = listSemantics(req.query, resource.kind, watching);
    const selectors = parseSelectors(req.query, resource.stored);
    const sql = sqlSelectors(resource, selectors) ?? { labels: [...selectors.labels], fields: [...selectors.fields] };
    if (a.name !== undefined) sql.fields.push({ field: "metadata.name", value: a.name, negate: false });
    const namespace = ns ?? a.namespace;
    if (watching) {
      const timeout = req.query.timeoutSeconds;
      await serveWatch(req, res, deps, {
        kind: resource.printing,
        ...(namespace !== undefined ? { namespace } : {}),
        access: a,
        selectors,
        listSelectors: sql,
        view: { apiVersion: CORE_VERSION, kind: resource.kind, of: resource.view },
        ...(typeof req.query.resourceVersion === "string" ? { resourceVersion: req.query.resourceVersion } : {}),
        allowBookmarks: flag(req.query.allowWatchBookmarks),
        sendInitialEvents,
        ...(typeof timeout === "string" && /^\d+$/.test(timeout) ? { timeoutSeconds: Math.min(Number(timeout), 2_147_482) } : {}),
        ...(deps.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: deps.bookmarkIntervalMs } : {}),
        onError: deps.onInternal,
      });
      return;
    }
    const limit = req.query.limit;
    if (limit !== undefined && !isNonNegativeInt64(limit)) throw new ApiError("BadRequest", `limit: invalid value "${String(limit)}": must be a non-negative 64-bit integer`);
    const listed = await deps.service.list(resource.stored, {
      ...(namespace !== undefined ? { namespace } : {}),
      labels: sql.labels,
      fields: sql.fields,
      ...(limit !== undefined ? { limit: Number(limit) } : {}),
      ...(typeof req.query.continue === "string" && req.query.continue ? { continue: req.query.continue } : {}),
    });
    const metadata = { resourceVersion: listed.resourceVersion, ...(listed.continue ? { continue: listed.continue } : {}) };
    // What is matched in memory (a Namespace's phase) may leave a page short, as selectors on views do.
    const items = listed.items
      .filter((o) => visible(a, o))
      .map((o) => resource.view(presentTo(a, o)))
      .filter((o) => matchesSelectors(o, selectors));
    send(req, res, resource, { apiVersion: CORE_VERSION, kind: `${resource.kind}List`, metadata, items }, items, metadata);
  };
}

function getHandler(deps: CoreRouteDeps, namespaced: boolean): Handler {
  return async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const resource = resourceOf(param(req, "plural"), namespaced, false);
    const a = access(req, "get", resource, ns);
    const name = param(req, "name");
    const stored = await deps.service.get(resource.stored, ns, name).catch((err: unknown) => {
      throw err instanceof ApiError && err.reason === "NotFound" ? coreNotFound(resource.plural, name) : err;
    });
    if (!visible(a, stored)) throw coreNotFound(resource.plural, name);
    const obj = resource.view(presentTo(a, stored));
    send(req, res, resource, obj, [obj]);
  };
}

/** Writes of a served resource are 405, as kube-apiserver answers a verb a resource lacks. */
function readOnly(namespaced: boolean, collection: boolean) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const resource = resourceOf(param(req, "plural"), namespaced, collection);
    next(new ApiError("MethodNotAllowed", `the server does not allow this method on the requested resource (${req.method} ${resource.plural}: ${resource.verbs.join(", ")} only)`));
  };
}

/**
 * `/api/v1`: the core resources of core-resources.ts, read-only (get, list, watch; Tables for
 * kubectl), under the RBAC of the eiaas kind that stores them — a tenant sees its own Namespace
 * and its namespace's Events, another tenant's namespace is NotFound.
 */
export function coreRouter(deps: CoreRouteDeps): Router {
  const r = Router();
  r.get("/namespaces/:ns/:plural", wrap(listHandler(deps, true)));
  r.get("/namespaces/:ns/:plural/:name", wrap(getHandler(deps, true)));
  r.get("/:plural", wrap(listHandler(deps, false)));
  r.get("/:plural/:name", wrap(getHandler(deps, false)));
  r.all("/namespaces/:ns/:plural", readOnly(true, true));
  r.all("/namespaces/:ns/:plural/:name", readOnly(true, false));
  r.all("/:plural", readOnly(false, true));
  r.all("/:plural/:name", readOnly(false, false));
  return r;
}
