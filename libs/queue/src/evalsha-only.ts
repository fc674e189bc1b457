import { createHash } from "node:crypto";
import { Command, type Redis } from "ioredis";
import { retry, sleep } from "@eiaas/api";

export interface EvalshaOnlyOptions {
  /**
   * How long, in all, one script call keeps retrying while Redis answers NOSCRIPT (its script is
   * not cached: Redis restarted or was flushed, and the control plane has not loaded the scripts
   * again yet) before it fails with that error. 0 fails at once (producer-side calls, which their
   * callers retry). Retries back off from 100 ms to 2 s, jittered.
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

type CommandArgs = NonNullable<ConstructorParameters<typeof Command>[1]>;

/** What a script command runs on: the client itself, or one of its pipelines (`this`). */
interface ScriptTarget {
  isPipeline?: boolean;
  sendCommand(command: Command): unknown;
}

/** Pauses while Redis answers NOSCRIPT: 100 ms doubling to 2 s (full jitter below each). */
const NOSCRIPT_BACKOFF = { initialMs: 100, maxMs: 2_000 };

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
    const keys = definition.numberOfKeys;
    // As ioredis' own Script.execute sends its EVALSHA (one Command, replies decoded alike), minus
    // the switch to EVAL: this is every job's fetch and completion, so it stays as lean.
    const command = (replyEncoding: "utf8" | null) =>
      function (this: ScriptTarget, ...args: CommandArgs): unknown {
        const evalsha = () => new Command("evalsha", typeof keys === "number" ? [sha, keys, ...args] : [sha, ...args], { replyEncoding });
        // A pipeline reports each command's error in its exec() result: nothing to wait on here.
        if (this.isPipeline) return this.sendCommand(evalsha());
        const send = (): Promise<unknown> => {
          const c = evalsha();
          this.sendCommand(c);
          return c.promise;
        };
        return send().catch((err: Error) => afterFailure(err, send, options));
      };
    Object.assign(client, { [name]: command("utf8"), [`${name}Buffer`]: command(null) });
  };
}

/** A failed script call: NOSCRIPT is waited out (the script comes back), NOPERM paused on. */
async function afterFailure<T>(first: Error, send: () => Promise<T>, options: EvalshaOnlyOptions): Promise<T> {
  const noScript = (err: unknown) => (err as Error)?.message?.startsWith("NOSCRIPT") === true;
  try {
    // Try 0 is the call that already failed: the helper pauses before sending it again.
    return await retry((n) => (n === 0 ? Promise.reject(first) : send()), {
      ...NOSCRIPT_BACKOFF,
      maxElapsedMs: options.noScriptPatienceMs,
      retryable: (err) => {
        if (!noScript(err)) return false;
        options.onError?.(err as Error);
        return !options.closing();
      },
    });
  } catch (err) {
    if ((err as Error)?.message?.startsWith("NOPERM")) {
      options.onError?.(err as Error);
      if (!options.closing()) await sleep(options.deniedDelayMs);
    }
    throw err;
  }
}
