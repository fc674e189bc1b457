export { createPrismaClient, type PrismaClient, type PrismaOptions } from "./client.js";
export { applyMigrations, MIGRATIONS_DIR, type MigrationResult } from "./migrate.js";
export { ObjectStore, type ListOptions, type ListResult, type NewObject, type WriteOptions } from "./object-store.js";
export { ChangeFeed, type ChangeFeedOptions, type WatchEventRecord } from "./change-feed.js";
export { TokenStore, hashToken, generateTokenSecret, type Principal, type TokenRole, type TokenInfo, type MintOptions } from "./token-store.js";
export { StoreError, isUnavailableError, isUniqueViolation, type StoreErrorReason } from "./errors.js";
export { rowToObject, formatTime, type StoredObject, type ObjectRow } from "./codec.js";
export { WATCH_CHANNEL, type WriteOp } from "./write-sql.js";
export { startEmbeddedPostgres, ensureDatabase, type EmbeddedPostgresOptions, type RunningPostgres } from "./embedded-postgres.js";
