import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { freePort, spawnApiServer, type SpawnedApiServer } from "@eiaas/testing";
import { ApiRequestError, ConnectionError, EiaasClient, type WatchEvent } from "./index.js";

// The API server is a child process: starting it (twice, for the restart) takes a while on a busy machine.
vi.setConfig({ hookTimeout: 120_000 });

let api: SpawnedApiServer;
let client: EiaasClient;

const tenant = (name: string) => ({ apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name }, spec: {} });
const node = (name: string, tier = "edge") => ({ apiVersion: "eiaas.io/v1alpha1", kind: "EdgeNode", metadata: { name, labels: { tier } }, spec: { tier } });

beforeAll(async () => {
  api = await spawnApiServer();
  client = new EiaasClient({ server: api.url, token: api.adminToken, caPem: api.caPem });
});
afterAll(async () => {
  client?.close();
  await api?.close();
});

describe("EiaasClient over HTTPS", () => {
  it("discovery and version", async () => {
    expect((await client.version()).gitVersion).toMatch(/^v\d/);
    const resources = await client.apiResources();
    expect(resources.resources.map((r) => r.name)).toContain("inferenceservices");
  });

  it("create, get, list with selectors and paging, patch, replace, delete", async () => {
    await client.create("tenants", tenant("acme"));
    for (const n of ["e1", "e2", "e3"]) await client.create("nodes", node(n));
    await client.create("EdgeNode", node("d1", "device"));
    expect((await client.get("en", "e1")).spec.tier).toBe("edge");
    expect((await client.list("edgenodes", { labelSelector: "tier=edge" })).items.map((o) => o.metadata.name)).toEqual(["e1", "e2", "e3"]);
    const page = await client.list("edgenodes", { limit: 2 });
    expect(page.items).toHaveLength(2);
    expect(page.metadata.continue).toBeTruthy();
    expect((await client.listAll("edgenodes", { limit: 1 })).items).toHaveLength(4);

    const patched = await client.patch("edgenodes", "e1", { spec: { unschedulable: true } });
    expect(patched.spec.unschedulable).toBe(true);
    const stale = { ...patched, metadata: { ...patched.metadata, resourceVersion: "1" } };
    const conflict = await client.replace("edgenodes", stale).catch((e) => e);
    expect(conflict).toBeInstanceOf(ApiRequestError);
    expect(conflict.code).toBe(409);
    expect(conflict.reason).toBe("Conflict");
    await client.replace("edgenodes", { ...patched, spec: { ...patched.spec, hardware: "jetson-nano" } });
    expect((await client.getStatus("edgenodes", "e1")).spec.hardware).toBe("jetson-nano");

    const dry = await client.delete("edgenodes", "e3", { dryRun: true });
    expect(dry.metadata.name).toBe("e3");
    await client.get("edgenodes", "e3");
    await client.delete("edgenodes", "e3");
    const gone = await client.get("edgenodes", "e3").catch((e) => e);
    expect(gone).toMatchObject({ name: "ApiRequestError", code: 404, reason: "NotFound", message: 'edgenodes "e3" not found' });
  });

  it("surfaces validation causes and refuses unknown kinds", async () => {
    const err = await client.create("edgenodes", { apiVersion: "eiaas.io/v1alpha1", kind: "EdgeNode", metadata: { name: "bad" }, spec: { tier: "moon" } }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect(err.reason).toBe("Invalid");
    expect(err.causes[0].field).toBe("spec.tier");
    expect(() => client.path("widgets")).toThrow(/doesn't have a resource type "widgets"/);
    expect(() => client.path("models", undefined, "x")).toThrow(/namespaced/);
  });

  it("server-side tables", async () => {
    const t = await client.table("edgenodes", { labelSelector: "tier=edge" });
    expect(t.kind).toBe("Table");
    expect(t.columnDefinitions.map((c) => c.name)).toEqual(expect.arrayContaining(["Name", "Tier", "Ready"]));
    expect(t.rows.map((r) => r.cells[0])).toEqual(["e1", "e2"]);
    expect(t.rows[0]?.object?.metadata?.name).toBe("e1");
    const one = await client.table("edgenodes", { name: "d1" });
    expect(one.rows).toHaveLength(1);
  });

  it("token API", async () => {
    const minted = await client.createToken("acme", { name: "ci", expiresAt: new Date(Date.now() + 3_600_000) });
    expect(minted.token!.length).toBeGreaterThan(30);
    const tenantClient = new EiaasClient({ server: api.url, token: minted.token!, caPem: api.caPem });
    expect((await tenantClient.list("models", { namespace: "acme" })).items).toEqual([]);
    expect((await client.listTokens("acme")).items.map((t) => t.metadata.name)).toEqual(["ci"]);
    await client.deleteToken("acme", "ci");
    await expect(tenantClient.list("models", { namespace: "acme" })).rejects.toMatchObject({ code: 401 });
    tenantClient.close();
    const boot = await client.createBootstrapToken({ name: "fleet" });
    expect(boot.token).toBeTruthy();
    expect((await client.listBootstrapTokens()).items.map((t) => t.metadata.name)).toContain("fleet");
    await client.deleteBootstrapToken("fleet");
  });

  it("task logs: the server's 404 is an ApiRequestError", async () => {
    await expect(client.taskLog("acme", "nope")).rejects.toMatchObject({ code: 404 });
  });

  it("TLS: an unknown CA fails with advice; insecure-skip-tls-verify connects", async () => {
    const untrusted = new EiaasClient({ server: api.url, token: api.adminToken });
    const err = await untrusted.version().catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.problem).toBe("tls");
    expect(err.message).toMatch(/certificate-authority/);
    const insecure = new EiaasClient({ server: api.url, token: api.adminToken, insecureSkipTlsVerify: true });
    expect((await insecure.version()).major).toBe("1");
    insecure.close();
  });

  it("an unreachable server says what to do next", async () => {
    const port = await freePort();
    const c = new EiaasClient({ server: `https://127.0.0.1:${port}` });
    const err = await c.version().catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toContain(`https://127.0.0.1:${port}`);
    expect(err.message).toContain("npm run demo");
  });
});

describe("watch", () => {
  // A server restart takes a few seconds, more on a busy machine.
  it("lists, then streams ADDED/MODIFIED/DELETED, resuming across a server restart", { timeout: 90_000 }, async () => {
    const ac = new AbortController();
    const w = client.watch("edgenodes", { labelSelector: "watch=yes", signal: ac.signal, initialBackoffMs: 50 });
    const seen: WatchEvent[] = [];
    let notify = () => {};
    const consumer = (async () => {
      for await (const ev of w) {
        seen.push(ev);
        notify();
      }
    })();
    const until = async (pred: () => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out; seen ${JSON.stringify(seen.map((e) => [e.type, e.object.metadata.name]))}`);
        await new Promise<void>((r) => {
          notify = r;
          setTimeout(r, 100);
        });
      }
    };
    const named = (type: string, name: string) => () => seen.some((e) => e.type === type && e.object.metadata.name === name);

    await client.create("edgenodes", { ...node("w1"), metadata: { name: "w1", labels: { watch: "yes" } } });
    await until(named("ADDED", "w1"));
    await client.patch("edgenodes", "w1", { spec: { hardware: "t4" } });
    await until(named("MODIFIED", "w1"));

    await api.kill();
    await api.start();
    await client.create("edgenodes", { ...node("w2"), metadata: { name: "w2", labels: { watch: "yes" } } });
    await client.patch("edgenodes", "w2", { metadata: { labels: { extra: "1" } } });
    await client.delete("edgenodes", "w1");
    await until(named("DELETED", "w1"));
    await until(named("MODIFIED", "w2"));
    ac.abort();
    await consumer;
    expect(seen.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(["ADDED w1", "MODIFIED w1", "ADDED w2", "MODIFIED w2", "DELETED w1"]);
    expect(Number(w.resourceVersion)).toBeGreaterThan(0);
  });
});
