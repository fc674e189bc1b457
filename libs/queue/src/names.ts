/** Queue names and job ids of the dispatch protocol (design.md §6). */

/** The queue of workloads to (re)plan, consumed by the scheduler. */
export const SCHEDULE_QUEUE = "schedule";

/** Prefix of the per-node dispatch queues: `node.<name>`. */
export const NODE_QUEUE_PREFIX = "node.";

/** BullMQ's default Redis key prefix; the agents' ACL patterns (`bull:node.<name>:*`) assume it. */
export const DEFAULT_KEY_PREFIX = "bull";

// EdgeNode names are RFC 1123 subdomains (libs/api). Checking again here keeps a stray name from
// becoming a queue name with ':' (BullMQ rejects it) or a glob character (it would widen an ACL
// key pattern such as `~bull:node.<name>:*` to other nodes' keys).
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Throws unless `name` is a valid EdgeNode name (a lowercase RFC 1123 subdomain, ≤ 253). */
export function assertNodeName(name: string): void {
  if (name.length === 0 || name.length > 253 || !NODE_NAME.test(name)) {
    throw new Error(`invalid node name ${JSON.stringify(name)}: must be a lowercase RFC 1123 subdomain`);
  }
}

/** `node.<name>`: the dispatch queue of one node. */
export function nodeQueueName(nodeName: string): string {
  assertNodeName(nodeName);
  return `${NODE_QUEUE_PREFIX}${nodeName}`;
}

/** The node a `node.<name>` queue belongs to, or undefined for other queues. */
export function nodeOfQueue(queueName: string): string | undefined {
  return queueName.startsWith(NODE_QUEUE_PREFIX) ? queueName.slice(NODE_QUEUE_PREFIX.length) : undefined;
}

/**
 * The dispatch job id of one attempt of a task: `<taskUid>.<attempt>`. Enqueueing the same id twice
 * is a no-op while the first job is retained, which makes dispatch idempotent.
 */
export function taskJobId(taskUid: string, attempt: number): string {
  if (!taskUid || taskUid.includes(":")) throw new Error(`invalid task uid ${JSON.stringify(taskUid)}`);
  if (!Number.isInteger(attempt) || attempt < 0) throw new Error(`invalid attempt ${attempt}`);
  return `${taskUid}.${attempt}`;
}

/** The Redis key pattern holding every key of a node's queue (what its agent's ACL user may touch). */
export function nodeKeyPattern(nodeName: string, prefix = DEFAULT_KEY_PREFIX): string {
  return `${prefix}:${nodeQueueName(nodeName)}:*`;
}
