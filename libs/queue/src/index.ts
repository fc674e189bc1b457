export { SCHEDULE_QUEUE, NODE_QUEUE_PREFIX, DEFAULT_KEY_PREFIX, assertNodeName, nodeQueueName, nodeOfQueue, taskJobId, nodeKeyPattern } from "./names.js";
export {
  taskJobPayload,
  taskJobSpec,
  scheduleItem,
  workloadKind,
  traceContext,
  parseTaskJobPayload,
  parseScheduleItem,
  scheduleItemKey,
  InvalidPayloadError,
  type TaskJobPayload,
  type TaskJobPayloadInput,
  type TaskJobSpec,
  type ScheduleItem,
  type WorkloadKind,
  type TraceContext,
} from "./payloads.js";
export type { QueueBackend, QueueConsumer, QueueDepth, RemoveTaskJobOptions, TaskJob, TaskHandler, ScheduleHandler, JobContext, ConsumeOptions } from "./backend.js";
export type { CommonQueueOptions } from "./bullmq-backend.js";
export { createRedisQueueBackend, type RedisQueueBackendOptions } from "./redis-backend.js";
export { createPostgresQueueBackend, type PostgresQueueBackendOptions } from "./postgres-backend.js";
export { MarkerMultiplexer, type MarkerMultiplexerOptions, type MarkerMultiplexerStats, type Marker } from "./marker-mux.js";
export type { LeaseStore, NodeLease } from "./lease.js";
export { createRedisLeaseStore, type RedisLeaseStoreOptions } from "./lease-redis.js";
export { createPostgresLeaseStore, type SqlQueryable } from "./lease-postgres.js";
export {
  AGENT_REDIS_COMMANDS,
  provisionAgentRedisUser,
  revokeAgentRedisUser,
  restoreAgentRedisUsers,
  agentRedisAclRules,
  agentRedisUsername,
  agentRedisUrl,
  type AgentRedisCredentials,
  type KeptAgentRedisUser,
  type AgentRedisUserOptions,
} from "./acl.js";
export { queueScripts, ensureQueueScripts, type QueueScript } from "./queue-scripts.js";
export { QueueScriptKeeper, type QueueScriptKeeperOptions } from "./queue-keeper.js";
