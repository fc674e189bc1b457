/**
 * Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for on `get`.
 *
 * kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;
 * v=v1beta1;g=meta.k8s.io,application/json` on `get` (also on the watch request of `get -w`). A
 * Table answer gives it the kind's printer columns; a plain List gives only NAME and AGE.
 */
import type { KindInfo } from "@eiaas/api";

/** One media range of an Accept header: `type/subtype` and its parameters (names lower-cased). */
export interface MediaRange {
  type: string;
  params: Record<string, string>;
}

/** Parses an Accept header into its media ranges, in the order given (q-values are not needed here). */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [];
  return header
    .split(",")
    .map((part) => {
      const [type = "", ...rest] = part.split(";").map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of rest) {
        const eq = p.indexOf("=");
        if (eq > 0)
          params[p.slice(0, eq).trim().toLowerCase()] = p
            .slice(eq + 1)
            .trim()
            .replace(/^"|"$/g, "");
      }
      return { type: type.toLowerCase(), params };
    })
    .filter((m) => m.type !== "");
}

/** The Table versions we can answer with, in the order we prefer them. */
const TABLE_VERSIONS = ["v1", "v1beta1"] as const;
export type TableVersion = (typeof TABLE_VERSIONS)[number];

/**
 * Which Table version the client asked for (`application/json;as=Table;v=v1|v1beta1;g=meta.k8s.io`),
 * taking the first acceptable range in the header; undefined when it did not ask for a Table.
 */
export function tableVersion(acceptHeader: string | undefined): TableVersion | undefined {
  for (const m of parseAccept(acceptHeader)) {
    if (m.type !== "application/json" || m.params.as !== "Table" || m.params.g !== "meta.k8s.io") continue;
    const v = m.params.v as TableVersion;
    if (TABLE_VERSIONS.includes(v)) return v;
  }
  return undefined;
}

/** Whether the request asks for server-side printing (a `meta.k8s.io` Table). */
export function wantsTable(acceptHeader: string | undefined): boolean {
  return tableVersion(acceptHeader) !== undefined;
}

/** Content-Type of a Table answer, as kube-apiserver sends it. */
export function tableContentType(version: TableVersion = "v1"): string {
  return `application/json;as=Table;v=${version};g=meta.k8s.io`;
}

export type IncludeObject = "None" | "Metadata" | "Object";

/** Reads `?includeObject=` (kube-apiserver's default is Metadata); anything else is undefined (a 400). */
export function parseIncludeObject(value: unknown): IncludeObject | undefined {
  if (value === undefined || value === "") return "Metadata";
  return value === "None" || value === "Metadata" || value === "Object" ? value : undefined;
}

export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: Array<string | number | boolean | null>;
  object?: unknown;
}

export interface Table {
  kind: "Table";
  apiVersion: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

export interface ToTableOptions {
  /** What each row's `object` carries (default Metadata: a PartialObjectMetadata). */
  includeObject?: IncludeObject;
  /** The list's metadata (resourceVersion, continue). */
  listMeta?: Table["metadata"];
  /** Reference time for Age columns; defaults to the current time. */
  now?: Date;
  /** Table apiVersion to answer with (default v1). */
  version?: TableVersion;
}

/** Column definitions of a kind: Name first, then its printer columns. */
export function columnDefinitions(kind: KindInfo): TableColumnDefinition[] {
  return [
    {
      name: "Name",
      type: "string",
      format: "name",
      description: "Name must be unique within a namespace. https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
      priority: 0,
    },
    ...kind.columns.map((c) => ({ name: c.name, type: c.type, format: "", description: c.description, priority: c.priority ?? 0 })),
  ];
}

/**
 * Turns objects of one kind into a `meta.k8s.io` Table. Date columns are rendered as ages
 * ("5m", "3d4h") the way kube-apiserver renders CRD date columns, so kubectl prints them as-is.
 */
export function toTable(kind: KindInfo, objects: readonly any[], opts: ToTableOptions = {}): Table {
  const now = opts.now ?? new Date();
  const include = opts.includeObject ?? "Metadata";
  return {
    kind: "Table",
    apiVersion: `meta.k8s.io/${opts.version ?? "v1"}`,
    metadata: { ...(opts.listMeta ?? {}) },
    columnDefinitions: columnDefinitions(kind),
    rows: objects.map((o) => toRow(kind, o, include, now)),
  };
}

function toRow(kind: KindInfo, obj: any, include: IncludeObject, now: Date): TableRow {
  const cells: TableRow["cells"] = [obj?.metadata?.name ?? ""];
  for (const col of kind.columns) {
    const value = col.get(obj);
    cells.push(col.type === "date" ? translateTimestampSince(value, now) : (value ?? null));
  }
  const row: TableRow = { cells };
  if (include === "Metadata") {
    row.object = { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj?.metadata ?? {} };
  } else if (include === "Object") {
    row.object = obj;
  }
  return row;
}

/** A watch event whose object is a one-row Table (what `kubectl get -w` expects). */
export interface TableWatchEvent {
  type: string;
  object: Table;
}

/**
 * Converts one watch event for a Table-printing watcher. kube-apiserver sends every event's object as
 * a Table with the event object's row; BOOKMARK and ERROR events pass through unchanged (a bookmark's
 * object only carries a resourceVersion, an error's is a Status), as kube-apiserver does.
 */
export function toTableEvent(kind: KindInfo, event: { type: string; object: any }, opts: Omit<ToTableOptions, "listMeta"> = {}): TableWatchEvent | { type: string; object: unknown } {
  if (event.type === "BOOKMARK" || event.type === "ERROR") return event;
  return {
    type: event.type,
    object: toTable(kind, [event.object], {
      ...opts,
      listMeta: { resourceVersion: event.object?.metadata?.resourceVersion },
    }),
  };
}

/** kube's printers.translateTimestampSince: "<unknown>" for a missing time, else a HumanDuration. */
export function translateTimestampSince(value: unknown, now: Date): string {
  if (typeof value !== "string" && !(value instanceof Date)) return "<unknown>";
  const t = new Date(value).getTime();
  if (!Number.isFinite(t)) return "<unknown>";
  return humanDuration(now.getTime() - t);
}

/**
 * k8s.io/apimachinery/pkg/util/duration.HumanDuration: a succinct age with ~2–3 significant figures
 * ("45s", "5m12s", "17m", "4h5m", "13h", "3d4h", "120d", "2y30d", "9y").
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  // Up to 2 s in the future is clock skew between machines: show it as now.
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    const years = Math.trunc(hours / 24 / 365);
    return dy === 0 ? `${years}y` : `${years}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}
