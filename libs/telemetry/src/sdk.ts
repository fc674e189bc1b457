// The OpenTelemetry SDK of a process: started only when an OTLP endpoint is configured, loaded
// with a dynamic import so a process without one never even reads the SDK's modules.

export interface TelemetryOptions {
  /** `service.name` of the process's spans (`eiaas-api-server`, `eiaas-scheduler`, ...). */
  serviceName: string;
  /** Where OTEL_* settings are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

export interface Telemetry {
  /** True when spans are exported (an OTLP endpoint is configured). */
  readonly enabled: boolean;
  /** Flushes pending spans and stops the SDK (call on shutdown); a no-op when disabled. */
  shutdown(): Promise<void>;
}

const DISABLED: Telemetry = { enabled: false, shutdown: async () => undefined };

/** True when the environment names an OTLP endpoint for traces. */
export function otlpConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && env.OTEL_SDK_DISABLED !== "true";
}

/**
 * Starts tracing with OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-specific
 * endpoint) is set; otherwise returns at once and the @opentelemetry/api calls stay no-ops.
 *
 * The exporter's protocol and the sampler follow the standard OTEL_* variables
 * (`OTEL_EXPORTER_OTLP_PROTOCOL` http/protobuf by default, `OTEL_TRACES_SAMPLER`, ...). Metrics stay
 * with prom-client on `/metrics` and logs with pino on stdout, so the SDK gets no metric reader and
 * no log processor. Resource detectors are limited to env/host/os/process: nothing probes cloud
 * metadata endpoints. Spans come from the code's own instrumentation (HTTP middleware, database,
 * queue, agent), not from auto-instrumentation, so no ESM loader hook is needed.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const env = options.env ?? process.env;
  if (!otlpConfigured(env)) return DISABLED;
  const [{ NodeSDK }, { envDetector, hostDetector, osDetector, processDetector }] = await Promise.all([import("@opentelemetry/sdk-node"), import("@opentelemetry/resources")]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? options.serviceName,
    resourceDetectors: [envDetector, hostDetector, osDetector, processDetector],
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  let stopping: Promise<void> | undefined;
  return {
    enabled: true,
    shutdown: () => (stopping ??= sdk.shutdown().catch(() => undefined)),
  };
}
