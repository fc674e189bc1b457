// In-process tracing for tests: the spans every component of this process records, kept in memory.
import { context, propagation, trace } from "@opentelemetry/api";

/** One finished span, reduced to what tests look at. */
export interface RecordedSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
  links: Array<{ traceId: string; spanId: string }>;
  /** 0 unset, 1 ok, 2 error (SpanStatusCode). */
  status: number;
  serviceName?: string;
}

export interface InMemoryTracing {
  /** Spans finished so far, in the order they ended. */
  spans(): RecordedSpan[];
  /** Forgets the spans finished so far. */
  reset(): void;
  /** Unregisters the provider, context manager and propagator. */
  shutdown(): Promise<void>;
}

/**
 * Registers a tracer provider that keeps every span in memory (SimpleSpanProcessor +
 * InMemorySpanExporter), the AsyncLocalStorage context manager and the W3C trace-context
 * propagator as the process's globals — what the SDK does with an OTLP endpoint, minus the export.
 * Call before the components under test start; one per process.
 */
export async function startInMemoryTracing(options: { serviceName?: string } = {}): Promise<InMemoryTracing> {
  const [{ BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { resourceFromAttributes }] = await Promise.all([
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
    import("@opentelemetry/resources"),
  ]);
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName ?? "eiaas-test" }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(contextManager)) throw new Error("a context manager is already registered in this process");
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    spans: () =>
      exporter.getFinishedSpans().map((s) => {
        const sc = s.spanContext();
        return {
          name: s.name,
          kind: s.kind,
          traceId: sc.traceId,
          spanId: sc.spanId,
          ...(s.parentSpanContext ? { parentSpanId: s.parentSpanContext.spanId } : {}),
          attributes: { ...s.attributes },
          links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
          status: s.status.code,
          ...(typeof s.resource.attributes["service.name"] === "string" ? { serviceName: s.resource.attributes["service.name"] } : {}),
        };
      }),
    reset: () => exporter.reset(),
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
