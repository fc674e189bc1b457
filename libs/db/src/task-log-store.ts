import type pg from "pg";

export interface TaskLogTail {
  attempt: number;
  lines: string[];
  /** Lines ever appended to this attempt's log (the first kept line is number total - lines.length). */
  total: number;
}

/**
 * Task log tails (`task_logs`): agents append what their tasks print, the API serves and follows
 * it. Only the newest `maxLines` per attempt are kept.
 */
export class TaskLogStore {
  constructor(
    private readonly pool: pg.Pool,
    /** Lines kept per task attempt. Default 1000. */
    private readonly maxLines = 1000,
  ) {}

  async append(namespace: string, name: string, attempt: number, lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.pool.query(
      `INSERT INTO task_logs (namespace, name, attempt, lines, total, updated_at)
       VALUES ($1, $2, $3, (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb) FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS t(e, i)
                            WHERE i > jsonb_array_length($4::jsonb) - $5), $6, now())
       ON CONFLICT (namespace, name, attempt) DO UPDATE SET
         lines = (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb)
                  FROM jsonb_array_elements(task_logs.lines || $4::jsonb) WITH ORDINALITY AS t(e, i)
                  WHERE i > jsonb_array_length(task_logs.lines || $4::jsonb) - $5),
         total = task_logs.total + $6,
         updated_at = now()`,
      [namespace, name, attempt, JSON.stringify(lines), this.maxLines, lines.length],
    );
  }

  /** The tail of one attempt, or of the newest one when `attempt` is absent. */
  async read(namespace: string, name: string, attempt?: number): Promise<TaskLogTail | undefined> {
    const r = await this.pool.query<{ attempt: number; lines: string[]; total: number }>(
      attempt === undefined
        ? `SELECT attempt, lines, total FROM task_logs WHERE namespace = $1 AND name = $2 ORDER BY attempt DESC LIMIT 1`
        : `SELECT attempt, lines, total FROM task_logs WHERE namespace = $1 AND name = $2 AND attempt = $3`,
      attempt === undefined ? [namespace, name] : [namespace, name, attempt],
    );
    return r.rows[0];
  }

  async deleteTask(namespace: string, name: string): Promise<void> {
    await this.pool.query(`DELETE FROM task_logs WHERE namespace = $1 AND name = $2`, [namespace, name]);
  }
}
