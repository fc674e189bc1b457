import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { RedisConnection } from "bullmq";

/** One of BullMQ's Lua scripts, as it defines it on a connection. */
export interface QueueScript {
  /** BullMQ's command name (`moveToActive:<version>`). */
  name: string;
  lua: string;
  /** SHA-1 of `lua`: what EVALSHA names it by. */
  sha: string;
  numberOfKeys?: number;
}

let captured: Promise<readonly QueueScript[]> | undefined;

/**
 * Every Lua script BullMQ defines on a connection (its Queues and Workers run nothing else), taken
 * from BullMQ itself: a connection that never connects records what BullMQ's `loadCommands` hands
 * to ioredis' `defineCommand`. So the set follows the installed BullMQ, with no copy of its list.
 */
export function queueScripts(): Promise<readonly QueueScript[]> {
  captured ??= (async () => {
    const scripts: QueueScript[] = [];
    const probe = new Redis({ lazyConnect: true, enableOfflineQueue: false });
    probe.defineCommand = (name, definition) => {
      const sha = createHash("sha1").update(definition.lua).digest("hex");
      scripts.push({ name, lua: definition.lua, sha, ...(definition.numberOfKeys === undefined ? {} : { numberOfKeys: definition.numberOfKeys }) });
    };
    const conn = new RedisConnection(probe, { shared: true, blocking: false, skipVersionCheck: true, skipWaitingForReady: true });
    try {
      await conn.client;
    } finally {
      await conn.close().catch(() => undefined);
      probe.disconnect();
    }
    if (scripts.length === 0) throw new Error("BullMQ defined no Lua scripts: cannot preload the agents' queue scripts");
    return scripts;
  })();
  // A failed capture is not kept: the next caller tries again.
  captured.catch(() => (captured = undefined));
  return captured;
}

/**
 * Makes sure every BullMQ script is in Redis' script cache: one `SCRIPT EXISTS` of them all, then
 * one pipeline of `SCRIPT LOAD` for those missing. Resolves to how many it loaded. Needs a
 * connection allowed to run SCRIPT (an admin's, not an agent's).
 */
export async function ensureQueueScripts(admin: Redis): Promise<number> {
  const scripts = await queueScripts();
  const cached = (await admin.call("SCRIPT", "EXISTS", ...scripts.map((s) => s.sha))) as number[];
  const missing = scripts.filter((_, i) => cached[i] !== 1);
  if (missing.length === 0) return 0;
  const pipeline = admin.pipeline();
  for (const s of missing) pipeline.call("SCRIPT", "LOAD", s.lua);
  const results = (await pipeline.exec()) ?? [];
  for (const [i, [err, sha]] of results.entries()) {
    if (err) throw err;
    if (sha !== missing[i]!.sha) throw new Error(`Redis cached script ${missing[i]!.name} as ${String(sha)}, not ${missing[i]!.sha}`);
  }
  return missing.length;
}

export interface QueueScriptKeeperOptions {
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
 * `SCRIPT EXISTS` of every script; only missing ones are loaded, in one pipeline.
 */
export class QueueScriptKeeper {
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<number>;
  private readonly onReady = () => void this.ensure().catch(this.report);
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
    return loaded;
  }
}
