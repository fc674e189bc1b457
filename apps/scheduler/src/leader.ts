import pg from "pg";

/** Any number, the same in every scheduler replica. */
const SCHEDULER_LOCK_KEY = 72_401_002;

/**
 * Leader election on a Postgres advisory lock (design.md §1): the replica whose session holds the lock
 * acts; the others wait. The lock lives as long as the session, so a crashed leader's lock is freed
 * by Postgres and another replica takes over on its next try.
 */
export class LeaderElector {
  private client?: pg.Client;
  private leader = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly onLost: () => void = () => undefined,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  /** Tries once; true when this replica holds (or just took) the lock. */
  async tryAcquire(): Promise<boolean> {
    if (this.leader) return true;
    if (!this.client) {
      const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 3_000 });
      client.on("error", () => this.lose());
      client.on("end", () => this.lose());
      await client.connect();
      this.client = client;
    }
    const r = await this.client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [SCHEDULER_LOCK_KEY]);
    this.leader = r.rows[0]?.ok === true;
    return this.leader;
  }

  private lose(): void {
    const was = this.leader;
    this.leader = false;
    this.client = undefined;
    if (was) this.onLost();
  }

  async release(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.leader = false;
    await c?.end().catch(() => undefined);
  }
}
