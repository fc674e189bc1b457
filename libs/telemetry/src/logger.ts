import { pino, type Logger } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  /** Component name put on every line (`api-server`, `scheduler`, ...). */
  name: string;
  /** pino level. Default `info` (`silent` in tests unless EIAAS_LOG_LEVEL is set by the caller). */
  level?: string;
  /** Where lines go. Default stdout. */
  destination?: NodeJS.WritableStream;
}

/** JSON logs, one object per line. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    { name: options.name, level: options.level ?? "info", base: { component: options.name }, timestamp: pino.stdTimeFunctions.isoTime },
    options.destination ?? process.stdout,
  );
}
