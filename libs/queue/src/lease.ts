/** A node's lease: renewed by every heartbeat, read by the node lifecycle controller. */
export interface NodeLease {
  nodeName: string;
  /** Who renewed it last (the agent's identity, e.g. its token name or instance id). */
  holder: string;
  renewTime: Date;
}

/**
 * Node leases (design.md §6): high-frequency heartbeat writes kept out of the resource tables. Renewals
 * never move a lease back in time, so a delayed renewal racing a newer one is harmless.
 */
export interface LeaseStore {
  readonly kind: "redis" | "postgres";
  /** Records a heartbeat of `nodeName` at `now` by `holder`. */
  renew(nodeName: string, holder: string, now: Date): Promise<void>;
  get(nodeName: string): Promise<NodeLease | undefined>;
  /** Leases last renewed before `olderThan` (the nodes to mark NotReady), oldest first. */
  listExpired(olderThan: Date): Promise<NodeLease[]>;
  /** Every lease, oldest first. */
  getAll(): Promise<NodeLease[]>;
  /** Forgets a node's lease (the node was deleted). */
  delete(nodeName: string): Promise<void>;
  /** Releases connections the store opened itself. */
  close(): Promise<void>;
}
