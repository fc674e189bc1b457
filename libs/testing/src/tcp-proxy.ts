import net from "node:net";

/**
 * How a cut link fails: `refuse` — nothing listens (connection refused), as a server that is down;
 * `bad-gateway` — every request is answered 502, as a load balancer whose backend is down.
 */
export type OutageMode = "refuse" | "bad-gateway";

export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: where clients connect instead of the target. */
  url: string;
  port: number;
  /** Cuts the link: open connections are destroyed, new ones fail as `mode` says. */
  cut(mode?: OutageMode): Promise<void>;
  /** Forwards again, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP forwarder to `target` (host:port) for tests of network outages: the client talks to the
 * proxy, and the test cuts and restores the link without stopping the server behind it.
 */
export async function startTcpProxy(
  target: { host: string; port: number },
  /** Hears every byte forwarded: `up` from clients to the target, `down` back (what crossed the wire). */
  record?: (direction: "up" | "down", chunk: Buffer) => void,
): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let mode: OutageMode | undefined;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
  };
  const server = net.createServer((client) => {
    track(client);
    if (mode === "bad-gateway") {
      client.once("data", () => client.end("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Gateway"));
      return;
    }
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    if (record) {
      client.on("data", (c: Buffer) => record("up", c));
      upstream.on("data", (c: Buffer) => record("down", c));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  const stopListening = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  const dropAll = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    cut: async (how = "refuse") => {
      mode = how;
      if (how === "refuse") {
        const closed = stopListening();
        dropAll();
        await closed;
      } else dropAll();
    },
    restore: async () => {
      if (!server.listening) await listen(port);
      mode = undefined;
    },
    close: async () => {
      const closed = stopListening();
      dropAll();
      await closed;
    },
  };
}
