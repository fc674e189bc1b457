export { createLogger, type Logger, type LoggerOptions } from "./logger.js";
export {
  TRACEPARENT_ANNOTATION,
  SpanKind,
  SpanStatusCode,
  tracer,
  withSpan,
  withSpanSync,
  startSpanContext,
  recordError,
  contextFrom,
  contextFromAnnotations,
  traceCarrier,
  traceAnnotation,
  linksFrom,
  activeTraceIds,
  bindContext,
  runInContext,
  activeContext,
  type Span,
  type Context,
  type Attributes,
  type SpanOptions,
  type TraceCarrier,
} from "./tracing.js";
export { startTelemetry, otlpConfigured, type Telemetry, type TelemetryOptions } from "./sdk.js";
export { startInMemoryTracing, type InMemoryTracing, type RecordedSpan } from "./in-memory.js";
export {
  registry,
  counter,
  gauge,
  histogram,
  enableProcessMetrics,
  renderMetrics,
  secondsSince,
  withTimeout,
  LATENCY_BUCKETS,
  Counter,
  Gauge,
  Histogram,
} from "./metrics.js";
export { startOpsServer, runChecks, type OpsServer, type OpsServerOptions, type ReadinessCheck } from "./ops-server.js";
