// What server-side apply needs to know of a schema: which values are objects (merged field by
// field), which are lists and how they merge (`x-kubernetes-list-type`), and which are leaves.
// Derived from the OpenAPI v3 schemas we publish, so that what a client reads there is what the
// merge does. Pure.

type Schema = Record<string, any>;

/**
 * - `object`: a struct (`fields`) or a map (`values`: the shape of every key's value), merged key by key.
 * - `list`: `atomic` (replaced whole: the default, as for CRDs), `set` (scalars, merged by value)
 *   or `map` (objects, merged by the `keys` fields).
 * - `leaf`: a scalar, or anything not described more closely (replaced whole).
 */
export type Shape = { type: "object"; fields: Record<string, Shape>; values?: Shape } | { type: "list"; listType: "atomic" | "set" | "map"; keys: string[]; item: Shape } | { type: "leaf" };

export const LEAF: Shape = { type: "leaf" };

/** The shape of `schema`, resolving `$ref`s (and `allOf` of one) against `components`. */
export function shapeOf(schema: Schema | undefined, components: Record<string, Schema>, depth = 0): Shape {
  if (!schema || depth > 32) return LEAF;
  if (typeof schema.$ref === "string") return shapeOf(components[schema.$ref.replace("#/components/schemas/", "")], components, depth + 1);
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return shapeOf(schema.allOf[0], components, depth + 1);
  if (schema.type === "array") {
    const declared = schema["x-kubernetes-list-type"];
    const listType = declared === "set" || declared === "map" ? declared : "atomic";
    const keys: string[] = listType === "map" && Array.isArray(schema["x-kubernetes-list-map-keys"]) ? schema["x-kubernetes-list-map-keys"] : [];
    return { type: "list", listType: listType === "map" && keys.length === 0 ? "atomic" : listType, keys, item: shapeOf(schema.items, components, depth + 1) };
  }
  if (schema.type === "object" || schema.properties) {
    const fields: Record<string, Shape> = {};
    for (const [k, v] of Object.entries<Schema>(schema.properties ?? {})) fields[k] = shapeOf(v, components, depth + 1);
    const values = schema.additionalProperties && typeof schema.additionalProperties === "object" ? shapeOf(schema.additionalProperties, components, depth + 1) : undefined;
    // An object of neither (`x-kubernetes-preserve-unknown-fields`-like): its keys are still fields.
    return { type: "object", fields, ...(values ? { values } : !schema.properties ? { values: LEAF } : {}) };
  }
  return LEAF;
}

/** The shape of `key`'s value in an object of shape `shape`. */
export function fieldShape(shape: Shape, key: string): Shape {
  if (shape.type !== "object") return LEAF;
  return shape.fields[key] ?? shape.values ?? LEAF;
}
