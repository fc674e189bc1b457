import type { EdgeNodeSpecInput } from "@eiaas/api";
import type { ConnectionOptions } from "@eiaas/client";
import type { QueueBackend } from "@eiaas/queue";
import { SimulatedRuntime, type TaskRuntime } from "@eiaas/runtime";
import type { Logger } from "@eiaas/telemetry";
import { NodeAgent } from "./agent.js";
import type { CredentialStore } from "./credentials.js";

export interface FleetNode {
  name: string;
  spec: EdgeNodeSpecInput;
  labels?: Record<string, string>;
}

export interface SimulatedFleetOptions {
  /** The API server; its `token`, if any, is the bootstrap token for nodes without a credential. */
  connection: ConnectionOptions;
  /**
   * Where each node's agent keeps its credential (e.g. a FileCredentialStore: `<dir>/<node>.json`),
   * so that a restarted fleet renews its nodes instead of registering them again. Absent: nothing
   * is kept.
   */
  credentials?: CredentialStore;
  /** Supplies the bootstrap token when a node has no credential yet, instead of `connection.token`. */
  bootstrapToken?: () => Promise<string | undefined>;
  nodes: readonly FleetNode[];
  /**
   * One queue transport for the whole fleet: a process simulating thousands of nodes holds a
   * bounded number of connections (libs/queue multiplexes the node queues' waits).
   */
  queue: QueueBackend;
  logger: Logger;
  /** Per node. Default 8. */
  slots?: number;
  heartbeatMs?: number;
  /** Nodes registered at once while starting. Default 50. */
  startConcurrency?: number;
  /** The runtime every node's agent shares (the demo's: training for real, the rest simulated). Default a SimulatedRuntime. */
  runtime?: TaskRuntime;
}

/** Many simulated node agents in one process, sharing a runtime and a queue transport. */
export class SimulatedFleet {
  readonly agents: NodeAgent[] = [];
  private readonly runtime: TaskRuntime;

  constructor(private readonly o: SimulatedFleetOptions) {
    this.runtime = o.runtime ?? new SimulatedRuntime();
  }

  async start(): Promise<void> {
    const credentials = this.o.credentials;
    let next = 0;
    const worker = async () => {
      while (next < this.o.nodes.length) {
        const n = this.o.nodes[next++]!;
        const agent = new NodeAgent({
          nodeName: n.name,
          spec: n.spec,
          ...(n.labels ? { labels: n.labels } : {}),
          connection: this.o.connection,
          ...(credentials ? { credentials } : {}),
          ...(this.o.bootstrapToken ? { bootstrapToken: this.o.bootstrapToken } : {}),
          runtime: this.runtime,
          slots: this.o.slots ?? 8,
          queue: this.o.queue,
          logger: this.o.logger,
          ...(this.o.heartbeatMs !== undefined ? { heartbeatMs: this.o.heartbeatMs } : {}),
          restartGraceMs: 5_000,
        });
        await agent.start();
        this.agents.push(agent);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.startConcurrency ?? 50, this.o.nodes.length) }, worker));
  }

  agent(name: string): NodeAgent | undefined {
    return this.agents.find((a) => a.nodeName === name);
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
    await this.runtime.close();
  }
}
