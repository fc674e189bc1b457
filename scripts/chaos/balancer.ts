// A small TCP load balancer in front of the API servers, as an operator would put one: round robin
// over the backends that accept connections; a backend that refuses one is taken out and retried
// every `probeMs` until it accepts again. TLS passes through (both API servers serve the same
// certificate), so a client's connection ends when its backend dies, as behind a real L4 balancer.
import net from "node:net";

export interface Backend {
  port: number;
  up: boolean;
  /** Connections sent to it. */
  connections: number;
}

export interface LoadBalancer {
  port: number;
  backends: readonly Backend[];
  close(): Promise<void>;
}

export async function startLoadBalancer(backendPorts: number[], options: { probeMs?: number; port?: number } = {}): Promise<LoadBalancer> {
  const backends: Backend[] = backendPorts.map((port) => ({ port, up: true, connections: 0 }));
  let next = 0;
  const sockets = new Set<net.Socket>();

  /** Connects to the next backend that is up, trying each once; undefined when none accepts. */
  const connectUpstream = (tried = 0): Promise<net.Socket | undefined> => {
    const alive = backends.filter((b) => b.up);
    if (alive.length === 0 || tried >= backends.length) return Promise.resolve(undefined);
    const b = alive[next++ % alive.length]!;
    return new Promise((resolve) => {
      const up = net.connect({ host: "127.0.0.1", port: b.port });
      const refused = () => {
        up.destroy();
        b.up = false;
        resolve(connectUpstream(tried + 1));
      };
      up.once("error", refused);
      up.once("connect", () => {
        up.removeListener("error", refused);
        up.on("error", () => up.destroy());
        b.connections++;
        resolve(up);
      });
    });
  };

  const server = net.createServer((client) => {
    client.pause();
    sockets.add(client);
    client.once("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    void connectUpstream().then((up) => {
      if (!up) return void client.destroy();
      if (client.destroyed) return void up.destroy();
      sockets.add(up);
      up.once("close", () => {
        sockets.delete(up);
        client.destroy();
      });
      client.once("close", () => up.destroy());
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });

  // Backends taken out come back once they accept a connection again.
  const probe = setInterval(() => {
    for (const b of backends) {
      if (b.up) continue;
      const s = net.connect({ host: "127.0.0.1", port: b.port });
      s.once("connect", () => {
        b.up = true;
        s.destroy();
      });
      s.once("error", () => s.destroy());
    }
  }, options.probeMs ?? 500);
  probe.unref();

  return {
    port: (server.address() as net.AddressInfo).port,
    backends,
    close: async () => {
      clearInterval(probe);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
