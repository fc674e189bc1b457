// The watch's relist path (410 Gone, in the stream or as the answer) against a scripted server:
// the real server rarely compacts its log within a test.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EiaasClient } from "./client.js";

const obj = (name: string, rv: string) => ({ apiVersion: "eiaas.io/v1alpha1", kind: "EdgeNode", metadata: { name, resourceVersion: rv }, spec: { tier: "edge" } });
const gone = { apiVersion: "v1", kind: "Status", metadata: {}, status: "Failure", reason: "Gone", code: 410, message: "too old resource version" };
const lists = [
  { rv: "10", items: [obj("a", "5"), obj("c", "9")] },
  { rv: "13", items: [obj("a", "12"), obj("b", "11")] },
  { rv: "21", items: [obj("a", "12"), obj("b", "11")] },
];
const watchRvs: string[] = [];
let server: http.Server;
let url: string;

beforeAll(async () => {
  let listed = 0;
  server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.searchParams.get("watch") !== "true") {
      const l = lists[Math.min(listed++, lists.length - 1)]!;
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ apiVersion: "eiaas.io/v1alpha1", kind: "EdgeNodeList", metadata: { resourceVersion: l.rv }, items: l.items }));
      return;
    }
    const rv = u.searchParams.get("resourceVersion") ?? "";
    watchRvs.push(rv);
    if (rv === "20") {
      res.statusCode = 410;
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify(gone));
      return;
    }
    res.setHeader("Content-Type", "application/json");
    if (rv === "10") res.end(`${JSON.stringify({ type: "ERROR", object: gone })}\n`);
    else if (rv === "13") res.end(`${JSON.stringify({ type: "BOOKMARK", object: { kind: "EdgeNode", metadata: { resourceVersion: "20" } } })}\n`);
    else res.write(""); // held open until the client aborts
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

it("relists on 410 (in the stream or as the answer) and delivers the difference", async () => {
  const client = new EiaasClient({ server: url });
  const ac = new AbortController();
  const relisted: boolean[] = [];
  const seen: string[] = [];
  for await (const ev of client.watch("edgenodes", { signal: ac.signal, initialBackoffMs: 10, onReconnect: (i) => relisted.push(i.relisted) })) {
    seen.push(`${ev.type} ${ev.object.metadata.name}`);
    if (seen.length === 5) setTimeout(() => ac.abort(), 300);
  }
  expect(seen).toEqual(["ADDED a", "ADDED c", "MODIFIED a", "ADDED b", "DELETED c"]);
  expect(watchRvs).toEqual(["10", "13", "20", "21"]);
  expect(relisted).toEqual([true, false, true]);
  client.close();
});
