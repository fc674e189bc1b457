import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

export interface EvalshaOnlyOptions {
  /**
   * How long, in all, one script call keeps retrying while Redis answers NOSCRIPT (its script is
   * not cached: Redis restarted or was flushed, and the control plane has not loaded the scripts
   * again yet) before it fails with that error. 0 fails at once (producer-side calls, which their
   * callers retry). Retries back off from 100 ms to 2 s.
   */
  noScriptPatienceMs: number;
  /**
   * Pause before a call denied by the ACL (NOPERM) fails: the denial stays, but a caller that
   * retries at once (BullMQ's fetch loop does) must not turn it into a busy loop against Redis.
   */
  deniedDelayMs: number;
  /** Every NOSCRIPT or NOPERM answer, as it happens (the call may still succeed later). */
  onError?: (err: Error) => void;
  /** True once the client's owner is closing: a waiting call fails at once. */
  closing: () => boolean;
}

/** What a script command runs on: the client itself, or one of its pipelines (`this`). */
interface ScriptTarget {
  isPipeline?: boolean;
  evalsha(...args: unknown[]): Promise<unknown>;
  evalshaBuffer(...args: unknown[]): Promise<unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Makes the Lua script commands defined on `client` from now on (BullMQ defines its scripts when
 * it first uses a connection) go out as EVALSHA only.
 *
 * ioredis sends a script's full text (EVAL) the first time it runs on each socket, and again after
 * a NOSCRIPT. An agent's Redis user may not EVAL (its own script could loop forever and stall
 * Redis for everyone, see `AGENT_REDIS_COMMANDS`), so its client must name cached scripts by their
 * SHA-1 — the control plane keeps them cached (`QueueScriptKeeper`). A NOSCRIPT then means "not
 * reloaded yet" and is waited out; it does not fail the job whose completion was being recorded.
 */
export function sendScriptsAsEvalshaOnly(client: Redis, options: EvalshaOnlyOptions): void {
  const define = client.defineCommand.bind(client);
  client.defineCommand = (name, definition) => {
    // ioredis' own definition first: it registers the command where pipelines copy it from.
    define(name, definition);
    const sha = createHash("sha1").update(definition.lua).digest("hex");
    const head = typeof definition.numberOfKeys === "number" ? [sha, definition.numberOfKeys] : [sha];
    const command = (buffer: boolean) =>
      function (this: ScriptTarget, ...args: unknown[]): unknown {
        const send = () => (buffer ? this.evalshaBuffer(...head, ...args) : this.evalsha(...head, ...args));
        // A pipeline reports each command's error in its exec() result: nothing to wait on here.
        return this.isPipeline ? send() : patiently(send, options);
      };
    Object.assign(client, { [name]: command(false), [`${name}Buffer`]: command(true) });
  };
}

async function patiently<T>(send: () => Promise<T>, options: EvalshaOnlyOptions): Promise<T> {
  const deadline = Date.now() + options.noScriptPatienceMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      const message = (err as Error).message ?? "";
      if (message.startsWith("NOPERM")) {
        options.onError?.(err as Error);
        if (!options.closing()) await sleep(options.deniedDelayMs);
        throw err;
      }
      if (!message.startsWith("NOSCRIPT")) throw err;
      options.onError?.(err as Error);
      const pause = Math.min(100 * 2 ** attempt, 2000);
      if (options.closing() || Date.now() + pause > deadline) throw err;
      await sleep(pause);
    }
  }
}
