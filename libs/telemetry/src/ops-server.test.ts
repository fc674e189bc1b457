// The scheduler's and agent's operations endpoint, and the shared registry's get-or-create.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { counter, gauge } from "./metrics.js";
import { startOpsServer, type OpsServer } from "./ops-server.js";

let ops: OpsServer;
let base: string;
const state = { postgres: true, redisHangs: false };

beforeAll(async () => {
  ops = await startOpsServer({
    port: 0,
    host: "127.0.0.1",
    checkTimeoutMs: 200,
    checks: {
      postgres: async () => {
        if (!state.postgres) throw new Error("connect ECONNREFUSED 127.0.0.1:5432\nmore detail");
      },
      redis: () => (state.redisHangs ? new Promise(() => undefined) : Promise.resolve("PONG")),
    },
    readyDetail: () => "leader",
  });
  base = `http://127.0.0.1:${ops.port}`;
});
afterAll(async () => {
  await ops.close();
});

const get = async (path: string) => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, text: await r.text(), type: r.headers.get("content-type") };
};

describe("ops server", () => {
  it("answers /livez and a ready /readyz with its detail", async () => {
    expect(await get("/livez")).toMatchObject({ status: 200, text: "ok" });
    expect(await get("/readyz")).toMatchObject({ status: 200, text: "ok (leader)" });
    expect((await get("/nope")).status).toBe(404);
  });

  it("is not ready while a dependency fails or does not answer, and names it", async () => {
    state.postgres = false;
    state.redisHangs = true;
    const r = await get("/readyz");
    expect(r.status).toBe(503);
    expect(r.text).toBe("not ready: postgres: connect ECONNREFUSED 127.0.0.1:5432; redis: no answer within 200 ms");
    state.postgres = true;
    state.redisHangs = false;
    expect((await get("/readyz")).status).toBe(200);
    // Liveness does not depend on dependencies: restarting would not bring them back.
    state.postgres = false;
    expect((await get("/livez")).status).toBe(200);
    state.postgres = true;
  });

  it("serves the registry on /metrics", async () => {
    const c = counter<"result">({ name: "eiaas_test_events_total", help: "test", labelNames: ["result"] });
    c.inc({ result: "ok" }, 3);
    // Asking again (a second instance of a component in the process) shares the series.
    expect(counter({ name: "eiaas_test_events_total", help: "test", labelNames: ["result"] })).toBe(c);
    gauge({ name: "eiaas_test_level", help: "test" }).set(7);
    const m = await get("/metrics");
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(m.text).toContain('eiaas_test_events_total{result="ok"} 3');
    expect(m.text).toContain("eiaas_test_level 7");
    expect(m.text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it("serves the series that name tenants only with the scrape token", async () => {
    gauge<"tenant">({ name: "eiaas_test_tenant_level", help: "test", labelNames: ["tenant"] }, { restricted: true }).set({ tenant: "acme" }, 5);
    const token = "s".repeat(40);
    const guarded = await startOpsServer({ port: 0, host: "127.0.0.1", metricsToken: token });
    try {
      const scrape = async (server: OpsServer, authorization?: string) => {
        const r = await fetch(`http://127.0.0.1:${server.port}/metrics`, authorization ? { headers: { Authorization: authorization } } : {});
        return { status: r.status, text: await r.text() };
      };
      const open = await scrape(guarded);
      expect(open.status).toBe(200);
      expect(open.text).toContain("eiaas_test_level 7");
      expect(open.text).not.toContain("acme");
      const scraped = await scrape(guarded, `Bearer ${token}`);
      expect(scraped.status).toBe(200);
      expect(scraped.text).toContain('eiaas_test_tenant_level{tenant="acme"} 5');
      expect(scraped.text).toContain("eiaas_test_level 7");
      expect(await scrape(guarded, `Bearer ${"x".repeat(40)}`)).toMatchObject({ status: 401 });
      // Without a scrape token configured, no token opens them.
      expect((await scrape(ops)).text).not.toContain("acme");
      expect(await scrape(ops, `Bearer ${token}`)).toMatchObject({ status: 401 });
    } finally {
      await guarded.close();
    }
  });

  it("answers 503 on /readyz once draining (shutdown), still live", async () => {
    ops.drain();
    expect(await get("/readyz")).toMatchObject({ status: 503, text: "not ready: shutting down" });
    expect((await get("/livez")).status).toBe(200);
  });
});
