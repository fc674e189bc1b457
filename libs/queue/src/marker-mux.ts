import type { Redis } from "ioredis";

/** A BullMQ queue marker: score 0 = jobs are waiting; > 0 = the next delayed job's due time (ms). */
export interface Marker {
  member: string;
  score: number;
}

interface Slot {
  refs: number;
  waiters: Array<(marker: Marker | null) => void>;
  /** A marker popped while no consumer of this queue was waiting (the lowest score wins). */
  pending?: number;
}

export interface MarkerMultiplexerOptions {
  /**
   * Seconds one BZPOPMIN blocks before the loop re-issues it, which is also how soon a newly
   * registered queue joins the wait.
   * @defaultValue 1
   */
  blockSeconds?: number;
  onError?: (err: Error) => void;
}

// Pops the markers of every listed queue at once: after BZPOPMIN woke for one queue, the others
// that got jobs meanwhile are served in one round trip instead of one BZPOPMIN (with all keys) each.
const SWEEP_LUA = `
local out = {}
for i, key in ipairs(KEYS) do
  local popped = redis.call('ZPOPMIN', key)
  if popped[1] then
    out[#out + 1] = i
    out[#out + 1] = popped[2]
  end
end
return out`;

const SWEEP_CHUNK = 1000;

interface SweepClient {
  eiaasSweepMarkers(numKeys: number, ...keys: string[]): Promise<Array<number | string>>;
}

/**
 * Waits for jobs on many BullMQ queues over ONE blocking Redis connection.
 *
 * A stock BullMQ Worker blocks on its own connection (`BZPOPMIN <queue>:marker`), so a process
 * simulating 5,000 nodes would hold 10,000 connections. Here every Worker's wait is an in-process
 * promise: one loop issues `BZPOPMIN marker1 … markerN` for all registered queues, sweeps the other
 * markers with one Lua call when it wakes, and hands each marker to the waiting Worker of its queue
 * (or keeps it until that Worker next waits). Workers still fetch, lock, renew and complete jobs
 * with BullMQ's own scripts on a shared, non-blocking connection.
 */
export class MarkerMultiplexer {
  private readonly slots = new Map<string, Slot>();
  private readonly blockSeconds: number;
  private readonly onError: (err: Error) => void;
  private loopDone?: Promise<void>;
  private wakeIdle?: () => void;
  private closed = false;

  constructor(
    private readonly blocking: Redis,
    private readonly sweeper: Redis,
    options: MarkerMultiplexerOptions = {},
  ) {
    this.blockSeconds = options.blockSeconds ?? 1;
    this.onError = options.onError ?? (() => undefined);
    if (!(sweeper as unknown as Partial<SweepClient>).eiaasSweepMarkers) {
      sweeper.defineCommand("eiaasSweepMarkers", { lua: SWEEP_LUA });
    }
  }

  /** Number of queues currently multiplexed. */
  get size(): number {
    return this.slots.size;
  }

  register(markerKey: string): void {
    if (this.closed) throw new Error("marker multiplexer is closed");
    const slot = this.slots.get(markerKey);
    if (slot) slot.refs++;
    else this.slots.set(markerKey, { refs: 1, waiters: [] });
    this.wakeIdle?.();
    this.loopDone ??= this.loop();
  }

  unregister(markerKey: string): void {
    const slot = this.slots.get(markerKey);
    if (!slot) return;
    if (--slot.refs > 0) return;
    this.slots.delete(markerKey);
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
    for (const key of [...this.slots.keys()]) {
      const slot = this.slots.get(key);
      if (slot) for (const w of slot.waiters.splice(0)) w(null);
    }
    this.slots.clear();
    this.wakeIdle?.();
    this.blocking.disconnect();
    await this.loopDone;
  }

  private deliver(markerKey: string, score: number): void {
    const slot = this.slots.get(markerKey);
    if (!slot) return;
    const waiter = slot.waiters[0];
    if (waiter) waiter({ member: score > 0 ? "1" : "0", score });
    else slot.pending = slot.pending === undefined ? score : Math.min(slot.pending, score);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      const keys = [...this.slots.keys()];
      if (keys.length === 0) {
        await new Promise<void>((resolve) => (this.wakeIdle = resolve));
        this.wakeIdle = undefined;
        continue;
      }
      try {
        const popped = await this.blockingPop(keys);
        if (failures > 0) {
          // A marker popped just before the connection broke is lost with its reply, and a
          // restarted Redis may hold re-enqueued jobs already: have every queue look once.
          failures = 0;
          for (const key of keys) this.deliver(key, 0);
        }
        if (popped) {
          this.deliver(popped.key, popped.score);
          await this.sweep(keys.filter((k) => k !== popped.key));
        }
      } catch (err) {
        if (this.closed) break;
        this.onError(err as Error);
        failures++;
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 2000)));
      }
    }
  }

  private async blockingPop(keys: string[]): Promise<{ key: string; score: number } | null> {
    const command = this.blocking.call("BZPOPMIN", ...keys, String(this.blockSeconds)) as Promise<[string, string, string] | null>;
    // ioredis may re-send an interrupted blocking command after a reconnect and never settle the
    // original one (BullMQ guards its own BZPOPMIN the same way): past the deadline, drop the
    // connection so the command fails and the loop re-issues it. The margin is generous so that a
    // busy event loop (thousands of simulated nodes) does not trip it.
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.blocking.disconnect(true);
        reject(new Error("BZPOPMIN did not return in time; reconnecting"));
      }, this.blockSeconds * 1000 + 10_000);
    });
    command.catch(() => undefined);
    try {
      const result = await Promise.race([command, watchdog]);
      return result ? { key: result[0], score: Number(result[2]) } : null;
    } finally {
      clearTimeout(timer);
    }
  }

  private async sweep(keys: string[]): Promise<void> {
    const client = this.sweeper as unknown as SweepClient;
    for (let i = 0; i < keys.length; i += SWEEP_CHUNK) {
      const chunk = keys.slice(i, i + SWEEP_CHUNK);
      const out = await client.eiaasSweepMarkers(chunk.length, ...chunk);
      for (let j = 0; j + 1 < out.length; j += 2) {
        const key = chunk[Number(out[j]) - 1];
        if (key !== undefined) this.deliver(key, Number(out[j + 1]));
      }
    }
  }
}
