// Span helpers over @opentelemetry/api. With no SDK registered (OTEL_EXPORTER_OTLP_ENDPOINT unset)
// every call below meets the API's no-op providers: no span objects are recorded, context
// propagation injects nothing, and the cost is a few function calls.
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Link, type Span } from "@opentelemetry/api";

export { SpanKind, type Span, type Context, type Attributes } from "@opentelemetry/api";

/**
 * Annotation carrying the W3C `traceparent` of the request that created a workload (and, on its
 * Tasks, of the scheduler's plan span): the scheduler plans in cycles long after that request
 * ended, so the trace crosses the gap through Postgres.
 */
export const TRACEPARENT_ANNOTATION = "eiaas.io/traceparent";

/** W3C trace context as it travels in job data and annotations. */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

const TRACER_NAME = "eiaas";

/** The process's tracer (resolved lazily, so one registered later is still used). */
export function tracer() {
  return trace.getTracer(TRACER_NAME);
}

export interface SpanOptions {
  /** Default INTERNAL. */
  kind?: SpanKind;
  attributes?: Attributes;
  /** Parent context. Default: the active one. */
  parent?: Context;
  links?: Link[];
  /**
   * Only trace when the parent context has a span: lets hot paths (database calls) be children of
   * a request or a plan without starting traces of their own from background loops. Default false.
   */
  requireParent?: boolean;
}

function begin(name: string, options: SpanOptions): { span: Span; ctx: Context } | undefined {
  const parent = options.parent ?? context.active();
  if (options.requireParent && !trace.getSpan(parent)) return undefined;
  const span = tracer().startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}), ...(options.links ? { links: options.links } : {}) },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Marks a span failed with `err` (its message and, as an event, the exception). */
export function recordError(span: Span, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message.split("\n")[0] ?? "" });
}

/** Runs `fn` in a new active span that ends when its promise settles (failed on a rejection). */
export async function withSpan<T>(name: string, options: SpanOptions, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  const s = begin(name, options);
  if (!s) return fn(undefined);
  try {
    return await context.with(s.ctx, () => fn(s.span));
  } catch (err) {
    recordError(s.span, err);
    throw err;
  } finally {
    s.span.end();
  }
}

/** {@link withSpan} for synchronous work. */
export function withSpanSync<T>(name: string, options: SpanOptions, fn: (span: Span | undefined) => T): T {
  const s = begin(name, options);
  if (!s) return fn(undefined);
  try {
    return context.with(s.ctx, () => fn(s.span));
  } catch (err) {
    recordError(s.span, err);
    throw err;
  } finally {
    s.span.end();
  }
}

/**
 * Starts a span that the caller ends (one that outlives a call, e.g. around a batch), with the
 * context holding it (to run work in); undefined under `requireParent` without a parent.
 */
export function startSpanContext(name: string, options: SpanOptions = {}): { span: Span; ctx: Context } | undefined {
  return begin(name, options);
}

/** The context a carrier (job data, annotation, HTTP headers) describes; ROOT when it has none. */
export function contextFrom(carrier: TraceCarrier | Record<string, unknown> | undefined, base: Context = ROOT_CONTEXT): Context {
  if (!carrier) return base;
  return propagation.extract(base, carrier, {
    get: (c, key) => {
      const v = (c as Record<string, unknown>)[key];
      return typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : undefined;
    },
    keys: (c) => Object.keys(c),
  });
}

/** W3C trace context of `ctx` (default: the active one); empty when nothing is being traced. */
export function traceCarrier(ctx: Context = context.active()): TraceCarrier {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return {
    ...(carrier.traceparent ? { traceparent: carrier.traceparent } : {}),
    ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}),
  };
}

/** `{ [TRACEPARENT_ANNOTATION]: traceparent }` of the active context, or `{}` when not tracing. */
export function traceAnnotation(ctx: Context = context.active()): Record<string, string> {
  const { traceparent } = traceCarrier(ctx);
  return traceparent ? { [TRACEPARENT_ANNOTATION]: traceparent } : {};
}

/** The parent context an object's traceparent annotation names (ROOT when absent). */
export function contextFromAnnotations(annotations: Record<string, string> | undefined): Context {
  const traceparent = annotations?.[TRACEPARENT_ANNOTATION];
  return traceparent ? contextFrom({ traceparent }) : ROOT_CONTEXT;
}

/** Links to the traces the given traceparents belong to (skipping absent or malformed ones). */
export function linksFrom(traceparents: Iterable<string | undefined>): Link[] {
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const tp of traceparents) {
    if (!tp || seen.has(tp)) continue;
    seen.add(tp);
    const sc = trace.getSpanContext(contextFrom({ traceparent: tp }));
    if (sc && trace.isSpanContextValid(sc)) links.push({ context: sc });
  }
  return links;
}

/** trace_id / span_id of the active span, for log lines; `{}` when nothing is traced. */
export function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const sc = span.spanContext();
  if (!trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/**
 * Makes `emitter`'s listeners run in `ctx` — for an HTTP request whose body is read through
 * stream events, which would otherwise run in the socket's context and lose the request's span.
 */
export function bindContext<T extends object>(ctx: Context, emitter: T): T {
  return context.bind(ctx, emitter);
}

/** Runs `fn` with `ctx` active. */
export function runInContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/** The active context. */
export function activeContext(): Context {
  return context.active();
}

export { SpanStatusCode };
