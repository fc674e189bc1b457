import { pino, type Logger } from "pino";
import { activeTraceIds } from "./tracing.js";

export type { Logger } from "pino";

export interface LoggerOptions {
  /** Component name put on every line (`api-server`, `scheduler`, ...). */
  name: string;
  /** pino level. Default `info` (`silent` in tests unless EIAAS_LOG_LEVEL is set by the caller). */
  level?: string;
  /** Where lines go. Default stdout. */
  destination?: NodeJS.WritableStream;
}

/**
 * JSON logs, one object per line. A line written inside a traced operation carries its `trace_id`
 * and `span_id`, so logs and traces join in the backend; untraced lines carry neither.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? "info",
      base: { component: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: activeTraceIds,
    },
    options.destination ?? process.stdout,
  );
}
