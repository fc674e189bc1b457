import type { InferenceServiceSpec } from "./resources/inferenceservice.js";

/**
 * The task environment variables that carry an InferenceService's `spec.caching` and
 * `spec.inputFilter` to its entry tasks: read by the `onnx` runtime and by `eiaas-serve` in a
 * container alike, so a task runs the same under every runtime.
 */
export const SERVING_REUSE_ENV = {
  cacheMaxEntries: "EIAAS_CACHE_MAX_ENTRIES",
  cacheTtlSeconds: "EIAAS_CACHE_TTL_SECONDS",
  inputFilterThreshold: "EIAAS_INPUT_FILTER_THRESHOLD",
} as const;

/** The variables for a service's caching and input filter (none when both are off). */
export function servingReuseEnv(spec: Partial<Pick<InferenceServiceSpec, "caching" | "inputFilter">> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (spec?.caching) {
    env[SERVING_REUSE_ENV.cacheMaxEntries] = String(spec.caching.maxEntries);
    env[SERVING_REUSE_ENV.cacheTtlSeconds] = String(spec.caching.ttlSeconds);
  }
  if (spec?.inputFilter) env[SERVING_REUSE_ENV.inputFilterThreshold] = String(spec.inputFilter.threshold);
  return env;
}
