import { backoffDelay } from "@eiaas/api";
import { Redis, type RedisOptions } from "ioredis";
import { Job, QueueKeys, RedisConnection, RedisQueueBackend, type BackendFactory, type IQueueBackend, type QueueBaseOptions } from "bullmq";
import type { QueueBackend } from "./backend.js";
import { BullmqQueueBackend, type CommonQueueOptions, type QueueEntry } from "./bullmq-backend.js";
import { sendScriptsAsEvalshaOnly } from "./evalsha-only.js";
import { MarkerMultiplexer } from "./marker-mux.js";
import { DEFAULT_KEY_PREFIX } from "./names.js";

export interface RedisQueueBackendOptions extends CommonQueueOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  url: string;
  /** BullMQ key prefix. The agents' ACL patterns assume the default. @defaultValue "bull" */
  prefix?: string;
  /**
   * The URL's user is a restricted ACL user (an agent's, see `provisionAgentRedisUser`): skip
   * what needs server-wide commands (the INFO of ioredis' ready check and BullMQ's version check),
   * and run BullMQ's scripts by EVALSHA only — the user may not EVAL; the control plane keeps the
   * scripts cached (`QueueScriptKeeper`).
   * @defaultValue false
   */
  restricted?: boolean;
  /**
   * Run BullMQ's scripts by EVALSHA only, never sending their text (EVAL): what a user without EVAL
   * needs. False leaves ioredis' own way (EVAL on a connection's first call, EVALSHA after), which
   * `bench:queue-acl` measures against. @defaultValue the value of `restricted`
   */
  evalshaOnly?: boolean;
  /**
   * With `evalshaOnly`: how long a consumer's script call waits for its script to be cached again
   * (Redis restarted or flushed; the control plane reloads within seconds) before failing. The
   * wait keeps a finished job's completion from being lost meanwhile. Producer-side calls (depth)
   * fail at once; closing the backend ends the waits. @defaultValue 30000
   */
  noScriptPatienceMs?: number;
  /** Extra ioredis options for every connection (TLS, timeouts). */
  redisOptions?: RedisOptions;
  /**
   * Seconds an idle consumer waits for a wake-up from the marker multiplexer before polling its
   * queue once anyway: a safety net only (a broken blocking connection already has every queue
   * look once when it is back). Each poll is one script call, so a 5,000-node fleet polls
   * 5,000 / this many times per second when idle: at 30 s that was a third of an idle fleet's
   * CPU and Redis time.
   * @defaultValue 120
   */
  idlePollSeconds?: number;
  /** Seconds one multiplexed BZPOPMIN blocks before being re-issued (1 s for 10 s after a queue joins). @defaultValue 5 */
  muxBlockSeconds?: number;
  /** Queues the consumers' multiplexer waits on per blocking connection. @defaultValue 100 */
  queuesPerBlockingConnection?: number;
  /** Most blocking connections the multiplexer opens. @defaultValue 64 */
  maxBlockingConnections?: number;
}

/** Marker for BullMQ's `connection` option: our factories ignore it and use the shared clients. */
interface SharedRedis {
  readonly shared: "eiaas-redis";
}

/**
 * A Worker backend that shares the consumer connection and waits through the multiplexer instead
 * of a blocking connection of its own.
 */
class MultiplexedRedisQueueBackend extends RedisQueueBackend {
  private readonly markerKey: string;
  private interrupted = false;
  private released = false;

  constructor(
    connection: RedisConnection,
    name: string,
    prefix: string,
    opts: QueueBaseOptions,
    private readonly mux: MarkerMultiplexer,
  ) {
    const keys = new QueueKeys(prefix);
    super(connection, name, keys.getKeys(name), (type) => keys.toKey(name, type), { ...opts, prefix } as QueueBaseOptions, undefined, false);
    this.markerKey = keys.toKey(name, "marker");
    mux.register(this.markerKey);
  }

  override async waitForJob(blockTimeout: number): Promise<{ member: string; score: number } | null> {
    if (this.interrupted || this.released) return null;
    // Somewhere in the second half of the timeout: consumers started together (a simulated fleet)
    // would otherwise all give up waiting at the same moment and poll their queues in one burst
    // every idle period — 5,000 scripts at once at 5,000 nodes. Ending a wait early only polls.
    return this.mux.wait(this.markerKey, blockTimeout * (0.5 + 0.5 * Math.random()));
  }

  override async disconnectBlocking(): Promise<void> {
    this.interrupted = true;
    this.mux.interrupt(this.markerKey);
  }

  override async reconnectBlocking(): Promise<void> {
    this.interrupted = false;
  }

  // The wait is an in-process timer, so nothing forces Redis' 10 s ceiling on delayed-job waits.
  override get maximumBlockTimeout(): number {
    return 3600;
  }

  override get minimumBlockTimeout(): number {
    return 0.001;
  }

  override async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.mux.unregister(this.markerKey);
  }
}

/**
 * A dispatch batch spreads over many node queues. Queue.addBulk builds one ioredis pipeline per
 * queue, and a pipeline costs a copy of every defined script command: with one job per queue that
 * doubled the producer's CPU per job (measured at 5,000 queues). One pipeline for the whole batch,
 * through BullMQ's public per-job building blocks, avoids it.
 */
function addInOnePipeline(producerConnection: () => RedisConnection) {
  return async (entries: ReadonlyArray<QueueEntry<RedisQueueBackend, SharedRedis>>): Promise<string[]> => {
    const client = await producerConnection().client;
    const pipeline = client.pipeline();
    // Each call queues its script on the pipeline synchronously (as BullMQ's own addJobs relies on).
    const queued = entries.map((e) => {
      const backend = e.queue.getBackend();
      const job = new Job(e.queue, e.name, e.data, e.opts, e.opts.jobId);
      return backend.addJobToTransaction(pipeline, job.asJSON(), e.opts.jobId as string);
    });
    const results = (await pipeline.exec()) ?? [];
    await Promise.all(queued);
    return results.map(([err, id]) => {
      if (err) throw err;
      return String(id);
    });
  };
}

/**
 * BullMQ on Redis with a bounded number of connections per process, however many node queues it
 * consumes:
 * - one producer connection (Queues: enqueue, remove, counts), failing commands fast while Redis
 *   is unreachable so the caller can retry;
 * - one consumer connection shared by every Worker (fetch, lock renewal, completion), waiting out
 *   reconnects so a finished job is recorded once Redis is back;
 * - the {@link MarkerMultiplexer}'s blocking connections that wake the Workers: one per 100
 *   queues, at most 64 (an agent consuming its own queue holds one).
 *
 * Why not a stock Worker per node: each holds its own blocking connection (plus a duplicated main
 * one when handed a shared client). Measured on this project's 2-core machines (Redis 7.0, load
 * from other work 7–15): 1,000 stock Workers opened 1,002 connections, took 3.3 s to get ready,
 * 260 MiB, and issued ~1,100 commands/s while idle. With this design 1,000 node consumers in one
 * process hold 11 connections (ready in 0.7 s, 148 MiB) and 5,000 hold 51 (3.8 s, 235 MiB); idle
 * they cost one BZPOPMIN per blocking connection per `muxBlockSeconds`, plus one poll per queue per
 * `idlePollSeconds` and one stalled-job check per queue per `stalledIntervalMs`. With producer and
 * fleet in one process, 10,000 dispatches went from enqueue to consumed at ~2,000/s over 1,000
 * queues and ~850/s over 5,000 (≈ 0.3–0.7 ms of CPU per task, mostly BullMQ's Worker). One
 * BZPOPMIN naming all 5,000 queues instead made the same run 2.5× slower (the per-wake cost of
 * listing every key).
 */
export function createRedisQueueBackend(options: RedisQueueBackendOptions): QueueBackend {
  const prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
  const restricted = options.restricted ?? false;
  const onError = options.onError ?? (() => undefined);
  const base: RedisOptions = {
    enableReadyCheck: !restricted,
    // 100 ms doubling to 2 s, jittered: a fleet's connections to a restarted Redis spread out.
    retryStrategy: (times) => backoffDelay(times - 1, { initialMs: 100, maxMs: 2_000 }),
    ...options.redisOptions,
  };
  const clients: Redis[] = [];
  let closing = false;
  const client = (extra: RedisOptions, noScriptPatienceMs = 0): Redis => {
    const c = new Redis(options.url, { ...base, ...extra });
    // Reported once, through the RedisConnection (or the multiplexer) that uses the client.
    c.on("error", () => undefined);
    if (options.evalshaOnly ?? restricted) {
      sendScriptsAsEvalshaOnly(c, { noScriptPatienceMs, deniedDelayMs: options.retryDelayMs ?? 1000, onError, closing: () => closing });
    }
    clients.push(c);
    return c;
  };
  const connection = (c: Redis): RedisConnection => {
    const conn = new RedisConnection(c, { shared: true, blocking: false, skipVersionCheck: restricted });
    conn.on("error", onError);
    return conn;
  };

  let producer: RedisConnection | undefined;
  let consumer: { conn: RedisConnection; mux: MarkerMultiplexer } | undefined;
  const producerConnection = () => (producer ??= connection(client({ maxRetriesPerRequest: 1 })));
  const consumerSide = () => {
    if (!consumer) {
      const shared = client({ maxRetriesPerRequest: null }, options.noScriptPatienceMs ?? 30_000);
      const mux = new MarkerMultiplexer(() => client({ maxRetriesPerRequest: 0 }), {
        blockSeconds: options.muxBlockSeconds ?? 5,
        queuesPerConnection: options.queuesPerBlockingConnection ?? 100,
        maxConnections: options.maxBlockingConnections ?? 64,
        onError,
      });
      consumer = { conn: connection(shared), mux };
    }
    return consumer;
  };

  const producerFactory: BackendFactory<RedisQueueBackend, SharedRedis> = (name, opts) => {
    const keys = new QueueKeys(prefix);
    return new RedisQueueBackend(producerConnection(), name, keys.getKeys(name), (type) => keys.toKey(name, type), { ...opts, prefix } as QueueBaseOptions, undefined, false);
  };
  const workerFactory: BackendFactory<IQueueBackend, SharedRedis> = (name, opts) => {
    const { conn, mux } = consumerSide();
    return new MultiplexedRedisQueueBackend(conn, name, prefix, opts as QueueBaseOptions, mux);
  };

  const addAcrossQueues = addInOnePipeline(producerConnection);

  return new BullmqQueueBackend<RedisQueueBackend, SharedRedis>(
    {
      kind: "redis",
      addAcrossQueues,
      connection: { shared: "eiaas-redis" },
      producerFactory,
      workerFactory,
      idlePollSeconds: options.idlePollSeconds ?? 120,
      beginClose: () => void (closing = true),
      closeConnections: async () => {
        await consumer?.mux.close();
        await Promise.allSettled([producer?.close(), consumer?.conn.close()]);
        for (const c of clients) c.disconnect();
      },
    },
    options,
  );
}
