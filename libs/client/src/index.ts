export { EiaasClient, TABLE_ACCEPT, resolveKind } from "./client.js";
export type {
  DeleteOptions,
  GetArtifactOptions,
  KindRef,
  ListOptions,
  LogOptions,
  MintTokenOptions,
  ModelArtifact,
  ObjectOptions,
  PatchOptions,
  PutArtifactOptions,
  TableOptions,
  WriteOptions,
} from "./client.js";
export { Transport, ndjson } from "./transport.js";
export type { ConnectionOptions, QueryValue, RawRequest, RawResponse } from "./transport.js";
export { ApiRequestError, ConfigError, ConnectionError, connectionError, errorFromResponse, retryAfterMs } from "./errors.js";
export type { ConnectionProblem } from "./errors.js";
export { Watch } from "./watch.js";
export type { ReconnectInfo, WatchOptions, WatchSource } from "./watch.js";
export { Kubeconfig } from "./kubeconfig.js";
export type { LocatedEntry } from "./kubeconfig.js";
export { kubeconfigPaths } from "./kubeconfig-files.js";
export type { KubeconfigLocation, KubeconfigPaths } from "./kubeconfig-files.js";
export { deleteContext, editKubeconfig, encodeCaData, setContext, useContext, writeDemoContext } from "./kubeconfig-edit.js";
export type { ContextUpdate, DemoContextOptions } from "./kubeconfig-edit.js";
export { resolveConnection } from "./connection.js";
export type { ConnectionFlags, ResolveOptions, ResolvedConnection } from "./connection.js";
export { importLegacyConfig, legacyConfigPath, legacyImportNotice } from "./legacy-config.js";
export type { LegacyImport } from "./legacy-config.js";
export type * from "./types.js";
