import { SpanKind, withSpan, type Attributes, type SpanOptions } from "@eiaas/telemetry";

/**
 * A database call as a CLIENT span (`UPDATE tasks`, `bind tasks`, ...) — only inside a traced
 * operation (an API request, a scheduler plan): background loops do not start traces of their own
 * here, and with tracing off this is a plain call.
 */
export function dbSpan<T>(operation: string, table: string, fn: () => Promise<T>, extra: Pick<SpanOptions, "links" | "requireParent"> & { attributes?: Attributes } = {}): Promise<T> {
  return withSpan(
    `${operation} ${table}`,
    {
      kind: SpanKind.CLIENT,
      requireParent: extra.requireParent ?? true,
      ...(extra.links ? { links: extra.links } : {}),
      attributes: { "db.system.name": "postgresql", "db.operation.name": operation, "db.collection.name": table, ...extra.attributes },
    },
    () => fn(),
  );
}
