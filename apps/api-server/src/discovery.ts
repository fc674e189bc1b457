/**
 * API discovery as kube-apiserver serves it, so stock kubectl finds the eiaas kinds: `/apis`
 * (legacy APIGroupList, or aggregated APIGroupDiscoveryList v2 / v2beta1 when asked), `/apis/eiaas.io`,
 * `/apis/eiaas.io/v1alpha1` (APIResourceList), `/api` and `/api/v1` (the part of the core group
 * eiaas serves: core/core-resources.ts) and `/version`. All of it is public, as in Kubernetes (system:discovery is granted to everyone).
 */
import { readFileSync } from "node:fs";
import { Router, type Request, type Response } from "express";
import { API_VERSION, GROUP, KINDS, VERSION, type KindInfo } from "@eiaas/api";
import { parseAccept } from "./table.js";
import { coreApiVersions, coreGroupDiscoveryList, coreResourceList } from "./core/core-discovery.js";

/** Verbs every eiaas kind supports (design.md §3), sorted as kube-apiserver lists them. */
export const RESOURCE_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"] as const;
/** Verbs of the `/status` subresource. */
export const STATUS_VERBS = ["get", "patch", "update"] as const;

/** Subresources besides `/status`, per kind: a Model's artifact (its ONNX file, routes/artifacts.ts). */
export const EXTRA_SUBRESOURCES: Readonly<Record<string, ReadonlyArray<{ name: string; verbs: readonly string[] }>>> = {
  Model: [{ name: "artifact", verbs: ["get", "update"] }],
};

/**
 * Categories of a kind: all kinds are in `eiaas` (`kubectl get eiaas`); the namespaced workload kinds
 * are also in `all`, as Pods and Deployments are in Kubernetes (Events are not, as there).
 */
export function categoriesOf(kind: KindInfo): string[] {
  return kind.namespaced && kind.kind !== "Event" ? ["all", "eiaas"] : ["eiaas"];
}

/**
 * The Kubernetes API level eiaas answers as (what kubectl's version-skew check compares with its
 * own, and client libraries gate features on): the kubectl it is tested with.
 */
export const KUBERNETES_VERSION = "1.32.0";

/** The version reported by `/version` (Kubernetes' version.Info, plus eiaas' own). */
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
  /** eiaas' own version and commit (clients decoding a version.Info ignore it). */
  eiaas: { version: string; gitCommit: string };
}

export interface DiscoveryOptions {
  /** Semver of the server (default: apps/api-server/package.json's version). */
  version?: string;
  /** Commit the server was built from (default `EIAAS_GIT_COMMIT`, else empty). */
  gitCommit?: string;
  /** Build time (default `EIAAS_BUILD_DATE`, else the time the module was loaded). */
  buildDate?: string;
}

const loadedAt = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * Builds the `/version` answer as kcp does: the Kubernetes version served, with eiaas' version as
 * semver build metadata (`v1.32.0+eiaas-v0.1.0`), and again in `eiaas`. Reporting eiaas' own
 * `0.1` made kubectl warn of a version skew on every `kubectl version`.
 */
export function versionInfo(opts: DiscoveryOptions = {}): VersionInfo {
  const version = opts.version ?? packageVersion();
  const [major = "1", minor = "0"] = KUBERNETES_VERSION.split(".");
  const gitCommit = opts.gitCommit ?? process.env.EIAAS_GIT_COMMIT ?? "";
  return {
    major,
    minor,
    gitVersion: `v${KUBERNETES_VERSION}+eiaas-v${version}`,
    gitCommit,
    gitTreeState: "",
    buildDate: opts.buildDate ?? process.env.EIAAS_BUILD_DATE ?? loadedAt,
    // version.Info's goVersion/compiler describe the runtime: report Node's.
    goVersion: `node${process.versions.node}`,
    compiler: "node",
    platform: `${process.platform}/${process.arch}`,
    eiaas: { version: `v${version}`, gitCommit },
  };
}

const groupVersion = { groupVersion: API_VERSION, version: VERSION };

/** `/apis/eiaas.io`: the APIGroup. */
export function apiGroup() {
  return { kind: "APIGroup", apiVersion: "v1", name: GROUP, versions: [groupVersion], preferredVersion: groupVersion };
}

/** `/apis` in the legacy form: APIGroupList. */
export function apiGroupList() {
  const { kind: _k, apiVersion: _a, ...group } = apiGroup();
  return { kind: "APIGroupList", apiVersion: "v1", groups: [group] };
}

/** `/apis/eiaas.io/v1alpha1`: every kind and its `/status` subresource. */
export function apiResourceList() {
  const resources: object[] = [];
  for (const k of KINDS) {
    resources.push({
      name: k.plural,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: [...RESOURCE_VERBS],
      ...(k.shortNames.length > 0 ? { shortNames: [...k.shortNames] } : {}),
      categories: categoriesOf(k),
    });
    if (k.hasStatus) {
      resources.push({ name: `${k.plural}/status`, singularName: "", namespaced: k.namespaced, kind: k.kind, verbs: [...STATUS_VERBS] });
    }
    for (const sub of EXTRA_SUBRESOURCES[k.kind] ?? []) {
      resources.push({ name: `${k.plural}/${sub.name}`, singularName: "", namespaced: k.namespaced, kind: k.kind, verbs: [...sub.verbs] });
    }
  }
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion: API_VERSION, resources };
}

export type AggregatedVersion = "v2" | "v2beta1";

/** `/apis` in the aggregated form (`apidiscovery.k8s.io` APIGroupDiscoveryList). */
export function apiGroupDiscoveryList(version: AggregatedVersion = "v2") {
  const responseKind = (kind: string) => ({ group: GROUP, version: VERSION, kind });
  const resources = KINDS.map((k) => {
    const subresources = [
      ...(k.hasStatus ? [{ subresource: "status", responseKind: responseKind(k.kind), verbs: [...STATUS_VERBS] }] : []),
      ...(EXTRA_SUBRESOURCES[k.kind] ?? []).map((s) => ({ subresource: s.name, responseKind: responseKind(k.kind), verbs: [...s.verbs] })),
    ];
    return {
      resource: k.plural,
      responseKind: responseKind(k.kind),
      scope: k.namespaced ? "Namespaced" : "Cluster",
      singularResource: k.singular,
      verbs: [...RESOURCE_VERBS],
      ...(k.shortNames.length > 0 ? { shortNames: [...k.shortNames] } : {}),
      categories: categoriesOf(k),
      ...(subresources.length > 0 ? { subresources } : {}),
    };
  });
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: [{ metadata: { name: GROUP, creationTimestamp: null }, versions: [{ version: VERSION, resources, freshness: "Current" }] }],
  };
}

/**
 * Which aggregated discovery version the Accept header asks for, honouring the client's order
 * (kubectl 1.32 lists v2, then v2beta1, then plain application/json); undefined for the legacy form.
 */
export function aggregatedVersion(acceptHeader: string | undefined): AggregatedVersion | undefined {
  for (const m of parseAccept(acceptHeader)) {
    if (m.type === "application/json" && m.params.g === "apidiscovery.k8s.io" && m.params.as === "APIGroupDiscoveryList") {
      if (m.params.v === "v2" || m.params.v === "v2beta1") return m.params.v;
      continue;
    }
    // A plain JSON range before any aggregated one: the client prefers the legacy form.
    if (m.type === "application/json" || m.type === "*/*" || m.type === "application/*") return undefined;
  }
  return undefined;
}

function aggregatedContentType(version: AggregatedVersion): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

/**
 * Sends a precomputed JSON body with an exact Content-Type. client-go decides between the aggregated
 * and legacy forms from the response's Content-Type, so Express must not rewrite it (a Buffer body
 * keeps it as set). Express adds a weak ETag and answers If-None-Match with 304, which kubectl's
 * HTTP cache uses.
 */
function sendJson(res: Response, body: Buffer, contentType: string): void {
  // res.set() would append "; charset=utf-8" to a JSON type; kube-apiserver sends none.
  res.setHeader("Content-Type", contentType);
  res.vary("Accept");
  res.send(body);
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

/**
 * The discovery routes, to mount before authentication: `app.use(discoveryRouter())`.
 * Documents are built once; `/version` reports {@link versionInfo}.
 */
export function discoveryRouter(opts: DiscoveryOptions = {}): Router {
  const router = Router();
  const bodies = {
    groupList: json(apiGroupList()),
    group: json(apiGroup()),
    resources: json(apiResourceList()),
    v2: json(apiGroupDiscoveryList("v2")),
    v2beta1: json(apiGroupDiscoveryList("v2beta1")),
    coreV2: json(coreGroupDiscoveryList("v2")),
    coreV2beta1: json(coreGroupDiscoveryList("v2beta1")),
    core: json(coreApiVersions()),
    coreResources: json(coreResourceList()),
    version: json(versionInfo(opts)),
  };

  router.get("/apis", (req: Request, res: Response) => {
    const v = aggregatedVersion(req.get("accept"));
    if (v) sendJson(res, bodies[v], aggregatedContentType(v));
    else sendJson(res, bodies.groupList, "application/json");
  });
  router.get("/api", (req: Request, res: Response) => {
    const v = aggregatedVersion(req.get("accept"));
    if (v) sendJson(res, v === "v2" ? bodies.coreV2 : bodies.coreV2beta1, aggregatedContentType(v));
    else sendJson(res, bodies.core, "application/json");
  });
  router.get("/api/v1", (_req, res) => sendJson(res, bodies.coreResources, "application/json"));
  router.get(`/apis/${GROUP}`, (_req, res) => sendJson(res, bodies.group, "application/json"));
  router.get(`/apis/${GROUP}/${VERSION}`, (_req, res) => sendJson(res, bodies.resources, "application/json"));
  router.get("/version", (_req, res) => sendJson(res, bodies.version, "application/json"));
  return router;
}
