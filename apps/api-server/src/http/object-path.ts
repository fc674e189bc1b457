import { API_PREFIX, lookupKind, type KindInfo } from "@eiaas/api";

/** One object (or one of its subresources) named by a request path outside the router. */
export interface ObjectPath {
  kind: KindInfo;
  namespace: string | undefined;
  name: string;
  /** The route template, as the router's telemetry labels it. */
  route: string;
}

const PREFIX = `${API_PREFIX}/`;

/** A path segment decoded; undefined when the router should answer it (bad encoding, NUL). */
function decode(segment: string): string | undefined {
  try {
    const s = decodeURIComponent(segment);
    return s.includes("\u0000") ? undefined : s;
  } catch {
    return undefined;
  }
}

/**
 * Parses `{prefix}/namespaces/{ns}/{plural}/{name}[/{subresource}]` or
 * `{prefix}/{plural}/{name}[/{subresource}]` for a known kind whose scope matches the path —
 * exactly the paths the router would serve as one object — or answers undefined (let the router
 * decide, including every error). The URL must carry no query string.
 */
export function parseObjectPath(url: string, subresource?: string): ObjectPath | undefined {
  if (!url.startsWith(PREFIX) || url.includes("?")) return undefined;
  const parts = url.slice(PREFIX.length).split("/");
  if (subresource !== undefined && parts.pop() !== subresource) return undefined;
  let namespace: string | undefined;
  let plural: string | undefined;
  let name: string | undefined;
  if (parts.length === 4 && parts[0] === "namespaces") {
    namespace = decode(parts[1]!);
    plural = parts[2];
    name = decode(parts[3]!);
    if (namespace === undefined || namespace === "") return undefined;
  } else if (parts.length === 2) {
    plural = parts[0];
    name = decode(parts[1]!);
  } else {
    return undefined;
  }
  if (!plural || !name) return undefined;
  const kind = lookupKind(plural);
  if (!kind || kind.plural !== plural || kind.namespaced !== (namespace !== undefined)) return undefined;
  const sub = subresource !== undefined ? `/${subresource}` : "";
  return { kind, namespace, name, route: namespace !== undefined ? `${API_PREFIX}/namespaces/:ns/:plural/:name${sub}` : `${API_PREFIX}/:plural/:name${sub}` };
}
