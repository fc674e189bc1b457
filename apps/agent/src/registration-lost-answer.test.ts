// A registration whose answer is lost on the way back (a reset, a proxy timing out, the agent
// killed) after the API registered the node: the retry then finds its single-use bootstrap token
// spent (401) or the name taken (409). The node used to be stranded: no agent held its token, and
// only an admin could delete it. The agent now chooses its token and writes it down before asking
// (the API receives only its hash), so the retry renews the node with it.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";
import { captureLogger, EDGE } from "./testing/fixtures.js";
import { FileCredentialStore } from "./credentials.js";
import { registerNode } from "./registration.js";

let api: TestApi;
let proxy: http.Server;
let proxyUrl: string;
let dir: string;
/** How many register answers the proxy still drops, and how many it dropped. */
const drops = { pending: 0, done: 0 };
/** How many register requests the proxy still answers 503 with `Retry-After: 1` itself (an overloaded gateway). */
const busy = { pending: 0 };
const suffix = randomBytes(3).toString("hex");
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });
const mintBootstrap = async () => (await request(api.app).post(`${API_PREFIX}/bootstraptokens`).set(admin()).send({ maxUses: 1 }).expect(201)).body;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * A reverse proxy in front of the API that, while `drops.pending` is positive, lets a register
 * request reach the API, waits for the API's whole answer, and then closes the client's connection
 * instead of passing it on.
 */
function startDroppingProxy(upstream: string): Promise<string> {
  const target = new URL(upstream);
  proxy = http.createServer((req, res) => {
    if (req.url?.endsWith("/register") && busy.pending > 0) {
      busy.pending--;
      req.resume();
      res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
      res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "busy", reason: "ServiceUnavailable", code: 503 }));
      return;
    }
    const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on("data", (c: Buffer) => chunks.push(c));
      answer.on("end", () => {
        if (req.url?.endsWith("/register") && drops.pending > 0) {
          drops.pending--;
          drops.done++;
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.end(Buffer.concat(chunks));
      });
    });
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  return new Promise((resolve) => proxy.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  api = await startTestApi();
  proxyUrl = await startDroppingProxy(await api.listen());
  dir = await mkdtemp(join(tmpdir(), "eiaas-lost-answer-"));
});

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((r) => proxy?.close(r));
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a registration whose answer is lost", () => {
  it("the retry finds the single-use token spent, and the agent renews the node with the token it chose and kept", async () => {
    const nodeName = `lost-answer-${suffix}`;
    const boot = await mintBootstrap();
    const credentials = new FileCredentialStore(dir);
    const { logger, lines } = captureLogger();
    drops.pending = 1;
    const reg = await registerNode({
      nodeName,
      body: { metadata: { labels: {} }, spec: EDGE },
      connection: { server: proxyUrl, token: boot.token },
      credentials,
      logger,
      backoff: { baseMs: 10, maxMs: 50 },
    });
    expect(drops.done).toBe(1);
    expect(reg.with).toBe("bootstrap");
    // The token the agent holds (and kept on disk) is the node's: its heartbeat is taken.
    expect((await credentials.load(nodeName, proxyUrl))?.token).toBe(reg.token);
    await request(api.app)
      .post(`${API_PREFIX}/edgenodes/${nodeName}/heartbeat`)
      .set({ Authorization: `Bearer ${reg.token}` })
      .send({})
      .expect(204);
    // The retry saw the token spent (the answer was lost, not the registration).
    expect(lines.some((l) => l.msg?.includes("answer was lost"))).toBe(true);
    // One registration, one use of the token.
    const tokens = (await request(api.app).get(`${API_PREFIX}/bootstraptokens`).set(admin()).expect(200)).body.items;
    expect(tokens.find((t: any) => t.metadata.name === boot.metadata.name)?.uses).toBe(1);
  });

  it("an answer that arrives: the node's token is the one the agent chose and kept, not the bootstrap token", async () => {
    const nodeName = `answered-${suffix}`;
    const boot = await mintBootstrap();
    const credentials = new FileCredentialStore(dir);
    const reg = await registerNode({ nodeName, body: { metadata: { labels: {} }, spec: EDGE }, connection: { server: proxyUrl, token: boot.token }, credentials, logger: captureLogger().logger });
    expect(reg.with).toBe("bootstrap");
    expect(reg.token).not.toBe(boot.token);
    expect((await credentials.load(nodeName, proxyUrl))?.token).toBe(reg.token);
    await request(api.app)
      .post(`${API_PREFIX}/edgenodes/${nodeName}/heartbeat`)
      .set({ Authorization: `Bearer ${reg.token}` })
      .send({})
      .expect(204);
  });

  it("a registration that chose its token gets no token back, and only that token speaks for the node", async () => {
    const nodeName = `chosen-${suffix}`;
    const boot = await mintBootstrap();
    const chosen = randomBytes(32).toString("base64url");
    const r = await request(api.app)
      .post(`${API_PREFIX}/edgenodes/${nodeName}/register`)
      .set({ Authorization: `Bearer ${boot.token}` })
      .send({ metadata: { labels: {} }, spec: EDGE, credential: { tokenSha256: sha256(chosen) } })
      .expect(201);
    expect(r.body.token).toBeUndefined();
    await request(api.app)
      .post(`${API_PREFIX}/edgenodes/${nodeName}/heartbeat`)
      .set({ Authorization: `Bearer ${chosen}` })
      .send({})
      .expect(204);
  });

  it("a malformed hash, or one some token already has, is the registration's 422 and leaves nothing behind", async () => {
    const boot = await mintBootstrap();
    const bad = await request(api.app)
      .post(`${API_PREFIX}/edgenodes/bad-hash-${suffix}/register`)
      .set({ Authorization: `Bearer ${boot.token}` })
      .send({ spec: EDGE, credential: { tokenSha256: "not-a-hash" } })
      .expect(422);
    expect(bad.body.details.causes[0].field).toBe("credential.tokenSha256");

    // Another node's token hash: taking it would make one secret speak for two nodes.
    const first = `owner-${suffix}`;
    const chosen = randomBytes(32).toString("base64url");
    await request(api.app)
      .post(`${API_PREFIX}/edgenodes/${first}/register`)
      .set({ Authorization: `Bearer ${(await mintBootstrap()).token}` })
      .send({ spec: EDGE, credential: { tokenSha256: sha256(chosen) } })
      .expect(201);
    const reused = await request(api.app)
      .post(`${API_PREFIX}/edgenodes/copy-${suffix}/register`)
      .set({ Authorization: `Bearer ${boot.token}` })
      .send({ spec: EDGE, credential: { tokenSha256: sha256(chosen) } })
      .expect(422);
    expect(reused.body).toMatchObject({ kind: "Status", reason: "Invalid" });
    expect(reused.body.details.causes[0].field).toBe("credential.tokenSha256");
    // The refused registration took itself back: no node, the token's use given back.
    await request(api.app).get(`${API_PREFIX}/edgenodes/copy-${suffix}`).set(admin()).expect(404);
    await request(api.app)
      .post(`${API_PREFIX}/edgenodes/${first}/heartbeat`)
      .set({ Authorization: `Bearer ${chosen}` })
      .send({})
      .expect(204);
  });

  it("a 503 with Retry-After is retried no sooner than asked, plus jitter; the next failure without one backs off from the base", async () => {
    const nodeName = `busy-${suffix}`;
    const boot = await mintBootstrap();
    const { logger, lines } = captureLogger();
    busy.pending = 1;
    drops.pending = 0;
    const reg = await registerNode({
      nodeName,
      body: { metadata: { labels: {} }, spec: EDGE },
      connection: { server: proxyUrl, token: boot.token },
      credentials: new FileCredentialStore(dir),
      logger,
      backoff: { baseMs: 10, maxMs: 5_000 },
    });
    expect(reg.with).toBe("bootstrap");
    const retries = lines.filter((l) => l.msg === "registration failed: retrying");
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ level: 40, node: nodeName, attempt: 1, reason: "503 ServiceUnavailable: busy" });
    // The server's second, plus a full-jitter draw below the first pause's ceiling (10 ms).
    expect(retries[0]!.retryInMs).toBeGreaterThanOrEqual(1_000);
    expect(retries[0]!.retryInMs).toBeLessThanOrEqual(1_010);
  });
});
