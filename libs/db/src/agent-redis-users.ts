import type pg from "pg";

/** A node agent's Redis ACL user as the control plane keeps it: the password's SHA-256, never the password. */
export interface AgentRedisUserRecord {
  nodeName: string;
  username: string;
  /** Hex SHA-256 of the password: what `ACL SETUSER <user> #<sha256>` takes. */
  passwordSha256: string;
}

/**
 * The agents' Redis ACL users (`agent_redis_users`), so that a Redis that restarted empty gets them
 * back with the passwords their agents hold (the API server's `QueueScriptKeeper` restores them). A
 * row goes with its node: the table's foreign key on the node's uid cascades on the node's delete.
 */
export class AgentRedisUserStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Records the user provisioned for `nodeName` (replacing an earlier one). False when the node no
   * longer exists (deleted meanwhile): nothing is kept for it.
   */
  async save(u: AgentRedisUserRecord): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO agent_redis_users (node_name, node_uid, username, password_sha256, updated_at)
       SELECT $1, uid, $2, $3, now() FROM edge_nodes WHERE namespace = '' AND name = $1
       ON CONFLICT (node_name) DO UPDATE SET node_uid = EXCLUDED.node_uid, username = EXCLUDED.username,
         password_sha256 = EXCLUDED.password_sha256, updated_at = EXCLUDED.updated_at`,
      [u.nodeName, u.username, u.passwordSha256],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async list(): Promise<AgentRedisUserRecord[]> {
    const r = await this.pool.query<{ node_name: string; username: string; password_sha256: string }>(`SELECT node_name, username, password_sha256 FROM agent_redis_users ORDER BY node_name`);
    return r.rows.map((row) => ({ nodeName: row.node_name, username: row.username, passwordSha256: row.password_sha256 }));
  }

  async get(nodeName: string): Promise<AgentRedisUserRecord | undefined> {
    const r = await this.pool.query<{ node_name: string; username: string; password_sha256: string }>(`SELECT node_name, username, password_sha256 FROM agent_redis_users WHERE node_name = $1`, [
      nodeName,
    ]);
    const row = r.rows[0];
    return row ? { nodeName: row.node_name, username: row.username, passwordSha256: row.password_sha256 } : undefined;
  }
}
