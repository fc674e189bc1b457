import type { Redis } from "ioredis";
import { restoreAgentRedisUsers, type KeptAgentRedisUser } from "./acl.js";
import { ensureQueueScripts } from "./queue-scripts.js";

export interface QueueScriptKeeperOptions {
  /**
   * The agents' Redis users as the control plane keeps them (password hashes): after a check found
   * the scripts gone (Redis restarted or failed over empty) and after every reconnect, the users
   * Redis lacks are created again from them. Absent: users are not restored.
   */
  agentUsers?: () => Promise<readonly KeptAgentRedisUser[]>;
  /** Called with the usernames a check had to restore. */
  onUsersRestored?: (usernames: string[]) => void;
  /**
   * How often the keeper asks Redis whether every script is still cached (one `SCRIPT EXISTS`).
   * Catches what a reconnect does not show: `SCRIPT FLUSH`, or a Redis restarted behind a proxy that
   * kept the keeper's connection open. @defaultValue 5000
   */
  checkIntervalMs?: number;
  /** Errors of a check or a load (Redis away, …); the next check retries. Dropped when absent. */
  onError?: (err: Error) => void;
  /** Called with how many scripts a check had to load (after a Redis restart or flush). */
  onLoaded?: (count: number) => void;
}

/**
 * Keeps BullMQ's Lua scripts in Redis' script cache for the agents.
 *
 * Agents' Redis users may run EVALSHA but not EVAL or SCRIPT (an agent's own script could loop
 * forever and stall Redis for everyone), so they can only run scripts someone with an admin
 * connection loaded. `provisionAgentRedisUser` loads them before it hands out credentials; this
 * keeper loads them again whenever they are gone: Redis' script cache is empty after a restart, a failover to
 * a fresh server, or a `SCRIPT FLUSH`. It checks on every (re)connection of its admin client — a
 * restart breaks the connection, so the scripts are back as soon as the control plane sees Redis
 * again — and every `checkIntervalMs`, because a reconnect is not the only way to lose them (a
 * flush leaves connections open; so does a proxy in front of a restarted server). A check is one
 * `SCRIPT EXISTS` of every script; only missing ones are loaded, in one pipeline. A Redis that lost
 * its scripts lost the agents' ACL users as well: with `agentUsers`, the keeper creates the missing
 * ones again (same password hashes) then, and after every reconnect.
 */
export class QueueScriptKeeper {
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<number>;
  /** The agents' users are to be checked (a reconnect, scripts found gone, or a failed restore). */
  private usersInDoubt = true;
  private readonly onReady = () => {
    this.usersInDoubt = true;
    void this.ensure().catch(this.report);
  };
  private readonly report = (err: Error) => this.options.onError?.(err);

  constructor(
    private readonly admin: Redis,
    private readonly options: QueueScriptKeeperOptions = {},
  ) {}

  /** Loads what is missing now, then keeps checking until {@link stop}. */
  start(): void {
    if (this.timer) return;
    this.admin.on("ready", this.onReady);
    this.timer = setInterval(() => void this.ensure().catch(this.report), this.options.checkIntervalMs ?? 5000);
    this.timer.unref();
    if (this.admin.status === "ready") this.onReady();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.admin.off("ready", this.onReady);
  }

  /**
   * Makes sure every script is cached ({@link ensureQueueScripts}); resolves to how many had to be
   * loaded. Concurrent calls share one check.
   */
  ensure(): Promise<number> {
    this.inFlight ??= this.check().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async check(): Promise<number> {
    const loaded = await ensureQueueScripts(this.admin);
    if (loaded > 0) this.options.onLoaded?.(loaded);
    // Scripts gone means Redis lost its state: its ACL users too. Scripts first: a restored agent's
    // first call names them.
    if (this.options.agentUsers && (loaded > 0 || this.usersInDoubt)) {
      this.usersInDoubt = true;
      const restored = await restoreAgentRedisUsers(this.admin, await this.options.agentUsers());
      this.usersInDoubt = false;
      if (restored.length > 0) this.options.onUsersRestored?.(restored);
    }
    return loaded;
  }
}
