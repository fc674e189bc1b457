// The component schemas of the OpenAPI document: each kind's and its list's from the zod schemas
// in libs/api, decorated the Kubernetes way, and the meta/v1 schemas they reference.
import { z } from "zod";
import { GROUP, VERSION, objectMeta, type KindInfo } from "@eiaas/api";
import { describeField, KIND_DESCRIPTIONS, OBJECT_META_DESCRIPTIONS } from "./openapi-descriptions.js";

export type Schema = Record<string, any>;

/** Prefix of the Kubernetes meta/v1 schemas our documents reference. */
export const META_PREFIX = "io.k8s.apimachinery.pkg.apis.meta.v1";
/** Key of the group-version document in the `/openapi/v3` index (no leading slash, as Kubernetes). */
export const GROUP_VERSION_PATH = `apis/${GROUP}/${VERSION}`;

/** Component schema name of a kind, e.g. `io.eiaas.v1alpha1.InferenceService`. */
export function schemaName(kind: string): string {
  const reversed = GROUP.split(".").reverse().join(".");
  return `${reversed}.${VERSION}.${kind}`;
}

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const gvk = (kind: string) => ({ group: GROUP, version: VERSION, kind });
const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** zod → OpenAPI 3.0 schema of what clients may send (`io: "input"`: defaulted fields are optional). */
export function fromZod(schema: z.ZodType): Schema {
  const converted = z.toJSONSchema(schema, { io: "input", target: "openapi-3.0", unrepresentable: "any" });
  // A deep copy: decorate() mutates, and a sub-schema reused in several places must not share edits.
  const out = JSON.parse(JSON.stringify(converted)) as Schema;
  delete out.$schema;
  return out;
}

/**
 * Tidies a converted schema the Kubernetes way and documents it: integers get `format: int64`
 * instead of zod's ±2^53 bounds (`int32` instead of the 32-bit range's), number-or-"auto" unions are marked int-or-string, and every property
 * without a zod description gets one from {@link describeField}.
 */
function decorate(node: Schema, describe: (path: string[]) => string | undefined, path: string[] = []): Schema {
  if (node.type === "integer") {
    if (node.minimum === -SAFE_INT) delete node.minimum;
    if (node.maximum === SAFE_INT) delete node.maximum;
    // Exactly the 32-bit range (priorities): Kubernetes says int32, not the bounds.
    if (node.minimum === -(2 ** 31) && node.maximum === 2 ** 31 - 1) {
      delete node.minimum;
      delete node.maximum;
      node.format ??= "int32";
    }
    node.format ??= "int64";
  }
  if (Array.isArray(node.anyOf)) {
    const types = new Set(node.anyOf.map((s: Schema) => s.type));
    // A number or a keyword ("auto"): Kubernetes' structural-schema marker for such unions.
    if (types.size === 2 && types.has("string") && (types.has("integer") || types.has("number"))) node["x-kubernetes-int-or-string"] = true;
    node.anyOf.forEach((s: Schema) => decorate(s, describe, path));
  }
  if (node.properties) {
    for (const [key, child] of Object.entries<Schema>(node.properties)) {
      const p = [...path, key];
      const d = describe(p);
      if (d && !child.description) child.description = d;
      decorate(child, describe, p);
    }
  }
  if (node.items) decorate(node.items, describe, path);
  if (node.additionalProperties && typeof node.additionalProperties === "object") decorate(node.additionalProperties, describe, path);
  return node;
}

/** The component schema of one kind, with metadata pointing at ObjectMeta. */
export function kindSchema(k: KindInfo): Schema {
  const s = decorate(fromZod(k.schema), (p) => describeField(k.kind, p));
  s.description = KIND_DESCRIPTIONS[k.kind] ?? k.kind;
  // As in Kubernetes' own documents: a $ref cannot carry siblings in OpenAPI 3.0, hence allOf.
  s.properties.metadata = { allOf: [ref(`${META_PREFIX}.ObjectMeta`)], default: {}, description: describeField(k.kind, ["metadata"]) };
  s["x-kubernetes-group-version-kind"] = [gvk(k.kind)];
  return s;
}

export function listSchema(k: KindInfo): Schema {
  return {
    description: `${k.kind}List is a list of ${k.kind} objects.`,
    type: "object",
    required: ["items"],
    properties: {
      apiVersion: { type: "string", description: describeField(k.kind, ["apiVersion"]) },
      kind: { type: "string", description: describeField(k.kind, ["kind"]) },
      metadata: { allOf: [ref(`${META_PREFIX}.ListMeta`)], default: {}, description: "Standard list metadata: resourceVersion and continue." },
      items: { type: "array", description: `List of ${k.plural}.`, items: { allOf: [ref(schemaName(k.kind))], default: {} } },
    },
    "x-kubernetes-group-version-kind": [gvk(`${k.kind}List`)],
  };
}

/** The meta/v1 schemas the kinds and operations reference. */
export function metaSchemas(): Record<string, Schema> {
  const objectMetaSchema = decorate(fromZod(objectMeta), (p) => (p.length === 1 ? OBJECT_META_DESCRIPTIONS[p[0]!] : undefined));
  objectMetaSchema.description = OBJECT_META_DESCRIPTIONS[""];
  const str = (description: string) => ({ type: "string", description });
  return {
    [`${META_PREFIX}.ObjectMeta`]: objectMetaSchema,
    [`${META_PREFIX}.ListMeta`]: {
      description: "ListMeta describes metadata that synthetic resources must have, including lists.",
      type: "object",
      properties: {
        resourceVersion: str("Version of the list; watch from it to see every later change."),
        continue: str("Set when the list was truncated by limit: pass it as ?continue= to get the next page."),
        remainingItemCount: { type: "integer", format: "int64", description: "Items after this page, when known." },
      },
    },
    [`${META_PREFIX}.Status`]: {
      description: "Status is the answer of failed requests (and of some deletes).",
      type: "object",
      properties: {
        apiVersion: str("v1"),
        kind: str("Status"),
        metadata: { allOf: [ref(`${META_PREFIX}.ListMeta`)], default: {} },
        status: str("Success or Failure."),
        message: str("Human-readable description of the error."),
        reason: str("Machine-readable reason (NotFound, Conflict, Invalid, ...)."),
        code: { type: "integer", format: "int32", description: "HTTP status code." },
        details: {
          type: "object",
          description: "Extra data about the error: the object and, for Invalid, the fields at fault.",
          properties: {
            name: str("Object name."),
            group: str("API group."),
            kind: str("Kind."),
            retryAfterSeconds: { type: "integer", format: "int32", description: "Seconds to wait before retrying." },
            causes: {
              type: "array",
              items: { type: "object", properties: { field: str("Field path, e.g. spec.layers[0].flops."), message: str("What is wrong."), reason: str("Cause type.") } },
            },
          },
        },
      },
      "x-kubernetes-group-version-kind": [{ group: "", version: "v1", kind: "Status" }],
    },
    [`${META_PREFIX}.DeleteOptions`]: {
      description: "DeleteOptions may be provided when deleting an object.",
      type: "object",
      properties: {
        apiVersion: str("v1"),
        kind: str("DeleteOptions"),
        propagationPolicy: str("Orphan, Background or Foreground; owned objects are deleted in the background either way."),
        gracePeriodSeconds: { type: "integer", format: "int64", description: "Accepted for compatibility." },
        dryRun: { type: "array", items: { type: "string" }, description: "All: validate without deleting." },
      },
    },
    [`${META_PREFIX}.Patch`]: { description: "A JSON merge patch (RFC 7386) of the object.", type: "object" },
    [`${META_PREFIX}.WatchEvent`]: {
      description: "Event in a watch stream.",
      type: "object",
      required: ["type", "object"],
      properties: { type: str("ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."), object: { type: "object", description: "The object (a Status for ERROR)." } },
    },
  };
}
