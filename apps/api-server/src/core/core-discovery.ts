/** Discovery of the core group's resources eiaas serves (`/api`, `/api/v1`), legacy and aggregated. */
import { CORE_RESOURCES, CORE_VERSION } from "./core-resources.js";

/** `/api` in the legacy form: the core group's versions. */
export function coreApiVersions() {
  return { kind: "APIVersions", versions: [CORE_VERSION], serverAddressByClientCIDRs: [] };
}

/** `/api/v1`: the core resources served. */
export function coreResourceList() {
  return {
    kind: "APIResourceList",
    groupVersion: CORE_VERSION,
    resources: CORE_RESOURCES.map((r) => ({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: [...r.verbs],
      shortNames: [...r.shortNames],
    })),
  };
}

/** `/api` in the aggregated form (`apidiscovery.k8s.io` APIGroupDiscoveryList): the core group alone. */
export function coreGroupDiscoveryList(version: "v2" | "v2beta1") {
  const resources = CORE_RESOURCES.map((r) => ({
    resource: r.plural,
    responseKind: { group: "", version: CORE_VERSION, kind: r.kind },
    scope: r.namespaced ? "Namespaced" : "Cluster",
    singularResource: r.singular,
    verbs: [...r.verbs],
    shortNames: [...r.shortNames],
  }));
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: [{ metadata: { name: "", creationTimestamp: null }, versions: [{ version: CORE_VERSION, resources, freshness: "Current" }] }],
  };
}
