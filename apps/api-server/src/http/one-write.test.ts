import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendStringsInOneWrite } from "./one-write.js";

let server: http.Server;
let base: string;
const long = "é".repeat(1500); // 1,500 characters, 3,000 bytes

beforeAll(async () => {
  const app = express();
  sendStringsInOneWrite(app);
  app.get("/json", (_req, res) => void res.status(201).type("application/json").send(JSON.stringify({ long })));
  app.get("/html", (_req, res) => void res.send(long));
  app.get("/short", (_req, res) => void res.type("text/plain").send("ok"));
  app.get("/empty", (_req, res) => void res.status(204).send(long));
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

describe("sendStringsInOneWrite", () => {
  it("sends long strings whole, with their length in bytes and a charset, as Express would", async () => {
    const json = await fetch(`${base}/json`);
    expect(json.status).toBe(201);
    expect(json.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(json.headers.get("content-length")).toBe(String(Buffer.byteLength(JSON.stringify({ long }))));
    expect(await json.json()).toEqual({ long });
    const html = await fetch(`${base}/html`);
    expect(html.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await html.text()).toBe(long);
  });

  it("leaves short bodies, HEAD and 204 to Express", async () => {
    const short = await fetch(`${base}/short`);
    expect(await short.text()).toBe("ok");
    expect(short.headers.get("content-length")).toBe("2");
    const head = await fetch(`${base}/json`, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe(String(Buffer.byteLength(JSON.stringify({ long }))));
    expect(await head.text()).toBe("");
    const empty = await fetch(`${base}/empty`);
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe("");
  });
});
