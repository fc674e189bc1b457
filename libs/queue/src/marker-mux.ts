import { backoffDelay, sleep } from "@eiaas/api";
import type { Redis } from "ioredis";

/** How long after a queue joined its group the group's waits are short ({@link MarkerMultiplexerOptions.joinBlockSeconds}). */
const JOIN_WINDOW_MS = 10_000;

/** A BullMQ queue marker: score 0 = jobs are waiting; > 0 = the next delayed job's due time (ms). */
export interface Marker {
  member: string;
  score: number;
}

interface Slot {
  refs: number;
  shard: Shard;
  waiters: Array<(marker: Marker | null) => void>;
  /** A marker popped while no consumer of this queue was waiting (the lowest score wins). */
  pending?: number;
}

interface Shard {
  keys: Set<string>;
  /** The group's blocking connection. */
  client: Redis;
  loopDone?: Promise<void>;
  wakeIdle?: () => void;
  /** When a queue last joined this group (ms since the epoch). */
  joinedAt: number;
}

export interface MarkerMultiplexerOptions {
  /**
   * Seconds one BZPOPMIN blocks before the loop re-issues it. Each re-issue costs Redis time in
   * proportion to the keys it names, so an idle fleet pays for it once per group per this long.
   * @defaultValue 5
   */
  blockSeconds?: number;
  /**
   * Seconds a BZPOPMIN blocks in the 10 s after a queue joined its group: a queue registered while
   * the wait was already issued joins it at the next re-issue, so within this long.
   * @defaultValue 1
   */
  joinBlockSeconds?: number;
  /**
   * Queues per blocking connection. A BZPOPMIN costs Redis time in proportion to the keys it
   * names, once per wake-up; at 5,000 keys it took ~4 ms, which caps one connection at a few
   * hundred wake-ups per second. Groups of this size keep a wake-up near 0.1 ms.
   * @defaultValue 100
   */
  queuesPerConnection?: number;
  /** Most blocking connections; past it, groups grow beyond `queuesPerConnection`. @defaultValue 64 */
  maxConnections?: number;
  onError?: (err: Error) => void;
}

/** Counters for metrics and tests. */
export interface MarkerMultiplexerStats {
  queues: number;
  /** Blocking connections open. */
  connections: number;
  /** Markers handed over. */
  markers: number;
}

/**
 * Waits for jobs on many BullMQ queues over a few blocking Redis connections.
 *
 * A stock BullMQ Worker blocks on its own connection (`BZPOPMIN <queue>:marker`), so a process
 * simulating 5,000 nodes would hold 10,000 connections. Here every Worker's wait is an in-process
 * promise: queues are grouped (100 per group by default), one loop per group issues
 * `BZPOPMIN marker1 … markerN` on the group's own connection and hands each popped marker to the
 * waiting Worker of its queue (or keeps it until that Worker next waits). Workers still fetch,
 * lock, renew and complete jobs with BullMQ's own scripts on one shared, non-blocking connection.
 * A process with one queue (an agent) holds one blocking connection; 5,000 queues hold 50.
 */
export class MarkerMultiplexer {
  private readonly slots = new Map<string, Slot>();
  private readonly shards: Shard[] = [];
  private readonly blockSeconds: number;
  private readonly joinBlockSeconds: number;
  private readonly perConnection: number;
  private readonly maxConnections: number;
  private readonly onError: (err: Error) => void;
  private closed = false;
  private markers = 0;

  /**
   * @param openBlocking - opens a dedicated blocking connection (`maxRetriesPerRequest: 0`, so a
   *   broken connection fails the pending BZPOPMIN instead of re-sending it)
   */
  constructor(
    private readonly openBlocking: () => Redis,
    options: MarkerMultiplexerOptions = {},
  ) {
    this.blockSeconds = options.blockSeconds ?? 5;
    this.joinBlockSeconds = Math.min(this.blockSeconds, options.joinBlockSeconds ?? 1);
    this.perConnection = Math.max(1, options.queuesPerConnection ?? 100);
    this.maxConnections = Math.max(1, options.maxConnections ?? 64);
    this.onError = options.onError ?? (() => undefined);
  }

  stats(): MarkerMultiplexerStats {
    return { queues: this.slots.size, connections: this.shards.length, markers: this.markers };
  }

  register(markerKey: string): void {
    if (this.closed) throw new Error("marker multiplexer is closed");
    const slot = this.slots.get(markerKey);
    if (slot) {
      slot.refs++;
      return;
    }
    const shard = this.shardWithRoom();
    this.slots.set(markerKey, { refs: 1, shard, waiters: [] });
    shard.keys.add(markerKey);
    shard.joinedAt = Date.now();
    shard.wakeIdle?.();
  }

  private shardWithRoom(): Shard {
    let least: Shard | undefined;
    for (const s of this.shards) {
      if (s.keys.size < this.perConnection) return s;
      if (!least || s.keys.size < least.keys.size) least = s;
    }
    if (least && this.shards.length >= this.maxConnections) return least;
    const client = this.openBlocking();
    const shard: Shard = { keys: new Set(), client, joinedAt: Date.now() };
    shard.loopDone = this.loop(shard, client);
    this.shards.push(shard);
    return shard;
  }

  unregister(markerKey: string): void {
    const slot = this.slots.get(markerKey);
    if (!slot) return;
    if (--slot.refs > 0) return;
    this.slots.delete(markerKey);
    slot.shard.keys.delete(markerKey);
    for (const w of slot.waiters.splice(0)) w(null);
  }

  /** Resolves with the queue's next marker, or null after `timeoutSeconds` or an interrupt. */
  wait(markerKey: string, timeoutSeconds: number): Promise<Marker | null> {
    const slot = this.slots.get(markerKey);
    if (!slot || this.closed) return Promise.resolve(null);
    if (slot.pending !== undefined) {
      const score = slot.pending;
      slot.pending = undefined;
      return Promise.resolve({ member: score > 0 ? "1" : "0", score });
    }
    return new Promise((resolve) => {
      const finish = (marker: Marker | null) => {
        clearTimeout(timer);
        const i = slot.waiters.indexOf(finish);
        if (i >= 0) slot.waiters.splice(i, 1);
        resolve(marker);
      };
      const timer = setTimeout(() => finish(null), Math.max(0, timeoutSeconds) * 1000);
      slot.waiters.push(finish);
    });
  }

  /** Ends the current waits on a queue (its Worker is closing or pausing). */
  interrupt(markerKey: string): void {
    const slot = this.slots.get(markerKey);
    if (slot) for (const w of slot.waiters.slice()) w(null);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots.values()) for (const w of slot.waiters.splice(0)) w(null);
    this.slots.clear();
    for (const shard of this.shards) {
      shard.keys.clear();
      shard.wakeIdle?.();
      shard.client.disconnect();
    }
    await Promise.all(this.shards.map((s) => s.loopDone));
  }

  private deliver(markerKey: string, score: number): void {
    const slot = this.slots.get(markerKey);
    if (!slot) return;
    this.markers++;
    const waiter = slot.waiters[0];
    if (waiter) waiter({ member: score > 0 ? "1" : "0", score });
    else slot.pending = slot.pending === undefined ? score : Math.min(slot.pending, score);
  }

  private async loop(shard: Shard, client: Redis): Promise<void> {
    let failures = 0;
    let turn = 0;
    while (!this.closed) {
      let keys = [...shard.keys];
      if (keys.length === 0) {
        await new Promise<void>((resolve) => (shard.wakeIdle = resolve));
        shard.wakeIdle = undefined;
        continue;
      }
      // BZPOPMIN serves the first listed key that has a marker: rotate so none waits behind others.
      const offset = turn++ % keys.length;
      keys = offset === 0 ? keys : [...keys.slice(offset), ...keys.slice(0, offset)];
      try {
        const seconds = Date.now() - shard.joinedAt < JOIN_WINDOW_MS ? this.joinBlockSeconds : this.blockSeconds;
        const popped = await this.blockingPop(client, keys, seconds);
        if (failures > 0) {
          // A marker popped just before the connection broke is lost with its reply, and a
          // restarted Redis may hold re-enqueued jobs already: have every queue look once.
          failures = 0;
          for (const key of keys) this.deliver(key, 0);
        }
        if (popped) this.deliver(popped.key, popped.score);
      } catch (err) {
        if (this.closed) break;
        this.onError(err as Error);
        failures++;
        // 200 ms doubling to 2 s, jittered: the shards of every agent process on a restarted Redis
        // do not come back in step.
        await sleep(backoffDelay(failures - 1, { initialMs: 200, maxMs: 2_000 }));
      }
    }
  }

  private async blockingPop(client: Redis, keys: string[], seconds: number): Promise<{ key: string; score: number } | null> {
    const command = client.call("BZPOPMIN", ...keys, String(seconds)) as Promise<[string, string, string] | null>;
    // ioredis may re-send an interrupted blocking command after a reconnect and never settle the
    // original one (BullMQ guards its own BZPOPMIN the same way): past the deadline, drop the
    // connection so the command fails and the loop re-issues it. The margin is generous so that a
    // busy event loop (thousands of simulated nodes) does not trip it.
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          client.disconnect(true);
          reject(new Error("BZPOPMIN did not return in time; reconnecting"));
        },
        seconds * 1000 + 10_000,
      );
    });
    command.catch(() => undefined);
    try {
      const result = await Promise.race([command, watchdog]);
      return result ? { key: result[0], score: Number(result[2]) } : null;
    } finally {
      clearTimeout(timer);
    }
  }
}
