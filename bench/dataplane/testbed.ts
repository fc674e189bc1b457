// Serving containers for the bench, run by the production docker runtime (the same code path an
// agent with `--runtime docker` takes): each server is a task whose segment the runtime writes and
// mounts, under the CPU quota of its node's class, published on the docker bridge's gateway.
import { DockerRuntime, taskKey, type TaskRunSpec } from "@eiaas/runtime";
import { docker, run } from "@eiaas/testing";
import type { BenchNode } from "./fleet.js";

export interface Server {
  /** `host:port` as clients and other servers reach it. */
  endpoint: string;
  container: string;
  stop(): Promise<void>;
}

export class Testbed {
  private readonly rt: DockerRuntime;
  private serial = 0;
  /** Label value of this run's containers: what the clean-up removes. */
  readonly namespace = `bench${process.pid}`;

  constructor(
    private readonly image: string,
    gateway: string,
    segments: Map<string, Uint8Array>,
    /** CFS period of the containers' quotas (µs); see DockerRuntimeOptions.cpuPeriodUs. */
    cpuPeriodUs?: number,
  ) {
    this.rt = new DockerRuntime({ loadSegment: async (t) => segments.get(t.name)!, publishHost: gateway, advertiseHost: gateway, ...(cpuPeriodUs ? { cpuPeriodUs } : {}) });
  }

  /** Starts a server of `segment` (registered in the segments map under the returned task name) on `node`. */
  async serve(node: BenchNode, role: "serve" | "head" | "tail", name: string, layers: { from: number; to: number }, next?: string): Promise<Server> {
    const task: TaskRunSpec = {
      namespace: this.namespace,
      name,
      uid: `${this.namespace}-${++this.serial}`,
      attempt: 1,
      nodeName: node.name,
      role,
      layers,
      template: { image: this.image },
      env: next ? { EIAAS_NEXT_ENDPOINT: next } : {},
      resources: { cpu: Math.round(node.cpus * 1000), memoryMiB: 0, gpu: 0 },
    };
    const controller = new AbortController();
    const logs: string[] = [];
    let started: (endpoint: string) => void;
    const ready = new Promise<string>((resolve) => (started = resolve));
    const done = this.rt.start(task, {
      signal: controller.signal,
      onLog: (line) => void logs.push(line),
      onStarted: (info) => started(info.endpoint!),
    });
    const endpoint = await Promise.race([
      ready,
      done.then((r) => {
        throw new Error(`server ${name} on ${node.name} ended before serving: ${r.reason} ${r.message ?? ""}\n${logs.slice(-10).join("\n")}`);
      }),
    ]);
    return {
      endpoint,
      container: `eiaas-${this.namespace}-${name}-1`,
      stop: async () => {
        await this.rt.stop(taskKey(task), "bench done");
        await done;
      },
    };
  }

  /** Removes every container of this run (also what Ctrl-C runs). */
  async cleanup(): Promise<void> {
    await this.rt.close();
    const ids = (await run("docker", ["ps", "-aq", "--filter", `label=eiaas.io/namespace=${this.namespace}`])).stdout.trim();
    if (ids) await run("docker", ["rm", "-f", ...ids.split("\n")]);
  }
}

/** The host's address on docker's default bridge. */
export async function bridgeGateway(): Promise<string> {
  return (await docker("network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}")).trim();
}
