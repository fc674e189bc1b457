export { EiaasClient, TABLE_ACCEPT, resolveKind } from "./client.js";
export type { DeleteOptions, GetArtifactOptions, KindRef, ListOptions, LogOptions, MintTokenOptions, ModelArtifact, ObjectOptions, PatchOptions, PutArtifactOptions, TableOptions, WriteOptions } from "./client.js";
export { Transport, ndjson } from "./transport.js";
export type { ConnectionOptions, QueryValue, RawRequest, RawResponse } from "./transport.js";
export { ApiRequestError, ConnectionError, connectionError, errorFromResponse, retryAfterMs } from "./errors.js";
export type { ConnectionProblem } from "./errors.js";
export { Watch } from "./watch.js";
export type { ReconnectInfo, WatchOptions, WatchSource } from "./watch.js";
export {
  CONFIG_API_VERSION,
  ConfigError,
  defaultConfigPath,
  deleteContext,
  emptyConfig,
  encodeCaData,
  loadConfig,
  resolveConnection,
  saveConfig,
  setContext,
  updateConfig,
  useContext,
  writeDemoContext,
} from "./config.js";
export type { ConnectionFlags, Context, ContextUpdate, DemoContextOptions, EiaasConfig, ResolveOptions, ResolvedConnection } from "./config.js";
export type * from "./types.js";
