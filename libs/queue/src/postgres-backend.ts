import { Job, PostgresConnection, PostgresQueueBackend, type BackendFactory, type IQueueBackend, type PgQueryResult, type QueueBaseOptions } from "bullmq";
import type { QueueBackend } from "./backend.js";
import { BullmqQueueBackend, type CommonQueueOptions, type QueueEntry } from "./bullmq-backend.js";

export interface PostgresQueueBackendOptions extends CommonQueueOptions {
  /** `postgresql://…` of the database that also holds the control plane's tables. */
  connectionString: string;
  /** Schema of BullMQ's tables, kept apart from the control plane's. @defaultValue "bullmq" */
  schema?: string;
  /** Create or upgrade BullMQ's schema on connect. @defaultValue true */
  migrate?: boolean;
  /** Size of the one query pool shared by every producer and consumer. @defaultValue 10 */
  poolSize?: number;
  /**
   * Seconds an idle consumer waits for a NOTIFY before checking its queue anyway.
   * @defaultValue 30
   */
  idlePollSeconds?: number;
}

interface SharedPostgres {
  readonly shared: "eiaas-postgres";
}

/** The LISTEN client BullMQ's connection hands out (its type is not exported by name). */
type ListenClient = Awaited<ReturnType<PostgresConnection["getListenClient"]>>;

/** The LISTENs issued (or under way) on each LISTEN client, by statement text. */
const listensByClient = new WeakMap<ListenClient, Map<string, Promise<PgQueryResult>>>();
const LISTEN = /^\s*(--[^\n]*\n\s*)*LISTEN\s/i;

/**
 * Makes the shared LISTEN client issue each LISTEN once. Every backend LISTENs on BullMQ's one jobs
 * channel when its Worker first waits, and the Workers of a fleet start together: one query each,
 * at once, on one pg Client — which pg deprecates (a DeprecationWarning in the demo's output). A
 * rebuilt client (after a drop) is another object, so it LISTENs afresh.
 */
function listenOncePerClient(client: ListenClient): void {
  if (listensByClient.has(client)) return;
  const issued = new Map<string, Promise<PgQueryResult>>();
  listensByClient.set(client, issued);
  const query = client.query.bind(client);
  client.query = <R>(text: string, ...rest: [params?: readonly unknown[]]): Promise<PgQueryResult<R>> => {
    if (typeof text !== "string" || rest.length > 0 || !LISTEN.test(text)) return query<R>(text, ...rest);
    let listening = issued.get(text);
    if (!listening) {
      listening = query(text);
      issued.set(text, listening);
      // A failed LISTEN is tried again by the next wait.
      listening.catch(() => issued.delete(text));
    }
    return listening;
  };
}

/**
 * A per-queue backend on the process's one {@link PostgresConnection}. BullMQ's own siblings
 * (`forQueue`) share it too, but only the connection's owner re-LISTENs when the LISTEN client is
 * rebuilt after a drop; here every sibling ends its current wait then, so its Worker re-subscribes
 * on the fresh client at once instead of sleeping through its idle poll.
 */
class SharedPostgresQueueBackend extends PostgresQueueBackend {
  private readonly onInvalidated = () => {
    void this.disconnectBlocking().then(() => this.reconnectBlocking());
  };

  constructor(
    private readonly shared: PostgresConnection,
    name: string,
    opts: QueueBaseOptions<SharedPostgres>,
  ) {
    // The backend queries through `shared`; in its options' place of the connection (our marker)
    // goes the pool it queries, what BullMQ expects there.
    super(shared, name, { ...opts, connection: shared.pool }, false);
    shared.on("listenerinvalidated", this.onInvalidated);
  }

  override async waitForJob(blockTimeout: number): Promise<{ member: string; score: number } | null> {
    // Every waiting Worker adds a 'notification' listener to the one LISTEN client.
    const client = await this.shared.getListenClient();
    if ("setMaxListeners" in client && typeof client.setMaxListeners === "function") client.setMaxListeners(0);
    listenOncePerClient(client);
    return super.waitForJob(blockTimeout);
  }

  override async close(): Promise<void> {
    this.shared.off("listenerinvalidated", this.onInvalidated);
    // Wake a blocked wait: with a shared connection nothing else would end it before its timer.
    await this.disconnectBlocking();
  }
}

/**
 * BullMQ on its Postgres backend (the embedded default without Redis): every Queue and Worker of
 * the process shares one pool of `poolSize` connections plus one LISTEN connection, however many
 * node queues it consumes.
 */
export function createPostgresQueueBackend(options: PostgresQueueBackendOptions): QueueBackend {
  const onError = options.onError ?? (() => undefined);
  let shared: PostgresConnection | undefined;
  const connection = (): PostgresConnection => {
    if (!shared) {
      shared = new PostgresConnection({
        connectionString: options.connectionString,
        max: options.poolSize ?? 10,
        schema: options.schema ?? "bullmq",
        ...(options.migrate === false ? { skipMigrations: true } : { migrate: true }),
      });
      // One listener per sibling backend: many consumers are expected, not a leak.
      shared.setMaxListeners(0);
      shared.on("error", onError);
    }
    return shared;
  };
  const factory: BackendFactory<IQueueBackend, SharedPostgres> = (name, opts) => new SharedPostgresQueueBackend(connection(), name, opts);
  // A dispatch batch spreads over many node queues; Queue.addBulk would run one statement (with its
  // temporary tables) per queue — ~150 jobs/s over 200 queues here. BullMQ's flow insert takes
  // jobs of any queues in one statement; its per-entry errors are checked here (FlowProducer
  // itself drops them).
  const addAcrossQueues = async (entries: ReadonlyArray<QueueEntry<IQueueBackend, SharedPostgres>>): Promise<string[]> => {
    const first = entries[0];
    if (!first) return [];
    const results = await first.queue.getBackend().addFlow(
      entries.map((e) => ({
        jobData: new Job(e.queue, e.name, e.data, e.opts, e.opts.jobId).asJSON(),
        jobId: e.opts.jobId as string,
        parentKeyOpts: {},
        prefix: "",
        queueName: e.queue.name,
      })),
    );
    return results.map(([err, id]) => {
      if (err) throw err;
      if (typeof id === "number") throw new Error(`bullmq could not add a job (code ${id})`);
      return id;
    });
  };
  return new BullmqQueueBackend<IQueueBackend, SharedPostgres>(
    {
      kind: "postgres",
      connection: { shared: "eiaas-postgres" },
      addAcrossQueues,
      producerFactory: factory,
      workerFactory: factory,
      idlePollSeconds: options.idlePollSeconds ?? 30,
      closeConnections: async () => {
        await shared?.close();
      },
    },
    options,
  );
}
