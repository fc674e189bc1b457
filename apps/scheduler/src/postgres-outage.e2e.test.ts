// Postgres unavailable for a while (issue 4 faults): the API answers 503 ServiceUnavailable
// Statuses, the scheduler's cycles fail quietly (logged, no crash, no unhandled rejection), and both
// resume when the database is back — a service created afterwards is placed and Running.
// A private embedded PostgreSQL that this file stops and starts; the shared test Redis.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { applyMigrations, ensureDatabase, freePort, startEmbeddedPostgres, type RunningPostgres } from "@eiaas/db";
import { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

let dataDir: string;
let port: number;
let pg: RunningPostgres;
let cp: ControlPlane;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

const startPostgres = () => startEmbeddedPostgres({ dataDir, port, persistent: true, ephemeral: true, maxConnections: 100 });

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  dataDir = await mkdtemp(join(tmpdir(), "eiaas-pg-outage-"));
  port = await freePort();
  pg = await startPostgres();
  await ensureDatabase(pg.url("postgres"), "eiaas");
  await applyMigrations(pg.url("eiaas"));
  const database = { url: pg.url("eiaas"), reset: async () => undefined, drop: async () => undefined };
  cp = await startControlPlane({ api: { database }, scheduler: { resyncMs: 200 } });
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("edge-1", edgeSpec("cloud-1"));
  await cp.startAgent("dev-1", deviceSpec("edge-1"), { client: "cam" });
}, 120_000);

afterAll(async () => {
  await cp?.close();
  await pg?.stop().catch(() => undefined);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  process.off("unhandledRejection", onUnhandled);
});

const phaseOf = async (name: string) => (await cp.get(`/namespaces/acme/inferenceservices/${name}`)).status?.phase;
const cycleFailures = () => cp.schedulerLog.lines.filter((l) => l.msg === "scheduling cycle failed; retrying on the next one");

describe("Postgres unavailable for a while", () => {
  it("answers 503, lets scheduler cycles fail quietly, and resumes when the database is back", async () => {
    await cp.apply("/namespaces/acme/inferenceservices", isvc("before", "cam", { architecture: "edge" }));
    await waitFor(async () => (await phaseOf("before")) === "Running", "before Running");
    expect(cycleFailures()).toEqual([]);

    await pg.stop();

    // Every API verb answers a 503 Status (after the token cache expires too), /readyz says why.
    const admin = cp.admin();
    await waitFor(
      async () => {
        const r = await request(cp.api.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices`).set(admin);
        return r.status === 503;
      },
      "the API to answer 503",
      15_000,
    );
    for (let i = 0; i < 2; i++) {
      const list = await request(cp.api.app).get(`${API_PREFIX}/namespaces/acme/inferenceservices`).set(admin);
      expect(list.status).toBe(503);
      expect(list.body).toMatchObject({ kind: "Status", status: "Failure", reason: "ServiceUnavailable", code: 503 });
      const create = await request(cp.api.app).post(`${API_PREFIX}/namespaces/acme/inferenceservices`).set(admin).send(isvc("during", "cam"));
      expect(create.status).toBe(503);
      expect(create.body).toMatchObject({ kind: "Status", reason: "ServiceUnavailable" });
      // Past the 2 s verification cache: authentication itself needs the database.
      await new Promise((r) => setTimeout(r, 2_100));
    }
    const ready = await request(cp.api.app).get("/readyz");
    expect(ready.status).toBe(503);
    expect(ready.text).toMatch(/^not ready/);

    // The scheduler keeps trying, and says so in its log, without crashing.
    await waitFor(() => cycleFailures().length >= 2, "scheduler cycles to fail while Postgres is down");
    expect(cp.scheduler!.lastError).toBeDefined();

    pg = await startPostgres();

    await waitFor(async () => (await request(cp.api.app).get("/readyz")).status === 200, "/readyz to recover", 30_000);
    await waitFor(
      async () => {
        const r = await request(cp.api.app)
          .post(`${API_PREFIX}/namespaces/acme/inferenceservices`)
          .set(admin)
          .send(isvc("after", "cam", { architecture: "edge" }));
        return r.status === 201;
      },
      "the API to accept writes again",
      30_000,
    );
    await waitFor(async () => (await phaseOf("after")) === "Running", "after placed and Running once the scheduler resumed", 30_000);
    expect(await phaseOf("before")).toBe("Running");
    const cycles = cp.scheduler!.cycles;
    await waitFor(() => cp.scheduler!.cycles > cycles && cp.scheduler!.lastError === undefined, "a clean scheduler cycle");
    expect(cp.scheduler!.isLeader).toBe(true);
    expect(unhandled).toEqual([]);
  });
});
