// A pooled keep-alive connection that the server closed just as it was reused: the request is sent
// again on a fresh connection when that is safe (not a POST), and the error stays a clear one
// otherwise. The server here answers the first request of every connection and drops the
// connection when a second one arrives on it — the race of an idle timeout, made deterministic.
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Transport } from "./transport.js";

let server: net.Server;
let base: string;
let connections = 0;

beforeAll(async () => {
  server = net.createServer((socket) => {
    connections++;
    let served = false;
    let buffered = "";
    socket.on("data", (chunk) => {
      if (served) {
        socket.destroy();
        return;
      }
      buffered += chunk.toString("latin1");
      if (!buffered.includes("\r\n\r\n")) return;
      served = true;
      const body = JSON.stringify({ ok: true });
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`);
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("Transport over a reused connection the server closed", () => {
  it("sends a GET, PUT, PATCH or DELETE again on a fresh connection", async () => {
    const t = new Transport({ server: base });
    try {
      const before = connections;
      for (const method of ["GET", "PUT", "PATCH", "DELETE", "GET"] as const) {
        const res = await t.request({ method, path: "/x", ...(method === "GET" || method === "DELETE" ? {} : { body: {} }) });
        expect(JSON.parse(res.body)).toEqual({ ok: true });
      }
      // Every request after the first found its pooled connection dropped and opened another.
      expect(connections - before).toBe(5);
    } finally {
      t.close();
    }
  });

  it("does not send a POST twice: the caller gets a connection error", async () => {
    const t = new Transport({ server: base });
    try {
      await t.request({ method: "GET", path: "/x" });
      const before = connections;
      await expect(t.request({ method: "POST", path: "/x", body: {} })).rejects.toMatchObject({ name: "ConnectionError" });
      expect(connections).toBe(before);
    } finally {
      t.close();
    }
  });
});
