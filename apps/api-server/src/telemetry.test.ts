// The API's /metrics and its request histogram: route templates (never raw paths), status codes,
// watch streams apart, and EIAAS_METRICS_AUTH.
import type { Request } from "express";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { gauge } from "@eiaas/telemetry";
import { routeTemplate, UNMATCHED_ROUTE } from "./http/telemetry.js";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

/** Samples of one metric from a Prometheus text exposition: labels → value. */
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

const V = "eiaas.io/v1alpha1";
let api: TestApi;
let secured: TestApi;
/** The scrape token (EIAAS_METRICS_TOKEN) of both APIs. */
const SCRAPE_TOKEN = "scrape-".repeat(6);
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });

beforeAll(async () => {
  api = await startTestApi({ metricsToken: SCRAPE_TOKEN });
  secured = await startTestApi({ metricsAuth: true, metricsToken: SCRAPE_TOKEN });
});

afterAll(async () => {
  await api?.close();
  await secured?.close();
});

describe("route templates", () => {
  const req = (originalUrl: string, route?: string, baseUrl = "") => ({ originalUrl, url: originalUrl, baseUrl, ...(route ? { route: { path: route } } : {}) }) as unknown as Request;

  it("joins the mount path (from the request path) and the matched pattern", () => {
    expect(routeTemplate(req(`${API_PREFIX}/namespaces/acme/tasks/t-1/status`, "/namespaces/:ns/:plural/:name/status"))).toBe(`${API_PREFIX}/namespaces/:ns/:plural/:name/status`);
    expect(routeTemplate(req(`${API_PREFIX}/tenants?limit=5`, "/:plural"))).toBe(`${API_PREFIX}/:plural`);
    expect(routeTemplate(req("/readyz", "/readyz"))).toBe("/readyz");
    expect(routeTemplate(req(`${API_PREFIX}/edgenodes/n1/`, "/edgenodes/:name"))).toBe(`${API_PREFIX}/edgenodes/:name`);
  });

  it("puts every unmatched path into one series", () => {
    expect(routeTemplate(req("/no/such/thing"))).toBe(UNMATCHED_ROUTE);
  });
});

describe("/metrics", () => {
  it("counts requests by method, route template and code", async () => {
    await request(api.app)
      .post(`${API_PREFIX}/tenants`)
      .set(admin())
      .send({ apiVersion: V, kind: "Tenant", metadata: { name: "acme" } })
      .expect(201);
    await request(api.app).get(`${API_PREFIX}/namespaces/acme/models/missing`).set(admin()).expect(404);
    await request(api.app).get(`${API_PREFIX}/namespaces/acme/models/other-missing`).set(admin()).expect(404);
    await request(api.app).get(`${API_PREFIX}/tenants`).expect(401);
    // Authenticated: an anonymous request is refused (401) before any route is matched, as kube-apiserver does.
    await request(api.app).get("/no/such/path").set(admin()).expect(404);
    await request(api.app).get(`${API_PREFIX}/tenants?watch=true&timeoutSeconds=1`).set(admin()).expect(200);

    const res = await request(api.app).get("/metrics").expect(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
    const counts = samples(res.text, "eiaas_api_request_duration_seconds_count");
    const count = (labels: Record<string, string>) => counts.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(count({ method: "POST", route: `${API_PREFIX}/:plural`, code: "201" })).toBe(1);
    // Both missing models in one series: the route, not the name.
    expect(count({ method: "GET", route: `${API_PREFIX}/namespaces/:ns/:plural/:name`, code: "404" })).toBe(2);
    expect(count({ method: "GET", code: "401" })).toBe(1);
    expect(count({ method: "GET", route: "<unmatched>", code: "404" })).toBe(1);
    expect(count({ method: "WATCH", route: `${API_PREFIX}/:plural`, code: "200" })).toBe(1);
    for (const s of counts) expect(s.labels.route).not.toMatch(/acme|missing|no\/such/);
    // Histogram buckets are cumulative and end at +Inf = count.
    const buckets = samples(res.text, "eiaas_api_request_duration_seconds_bucket").filter((s) => s.labels.method === "GET" && s.labels.code === "404" && s.labels.route !== "<unmatched>");
    expect(buckets.at(-1)).toMatchObject({ labels: { le: "+Inf" }, value: 2 });
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    const sums = samples(res.text, "eiaas_api_request_duration_seconds_sum");
    for (const s of sums) expect(s.value).toBeGreaterThanOrEqual(0);
    // Process metrics come along.
    expect(res.text).toMatch(/^process_cpu_seconds_total /m);
  });

  it("needs no token by default; an admin token with EIAAS_METRICS_AUTH", async () => {
    await request(secured.app).get("/metrics").expect(401);
    // A tenant token is minted for a live tenant.
    await request(secured.app)
      .post(`${API_PREFIX}/tenants`)
      .set({ Authorization: `Bearer ${secured.adminToken}` })
      .send({ apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name: "acme" } })
      .expect(201);
    const tenantToken = await secured.tenantToken("acme");
    const forbidden = await request(secured.app)
      .get("/metrics")
      .set({ Authorization: `Bearer ${tenantToken}` })
      .expect(403);
    expect(forbidden.body).toMatchObject({ kind: "Status", reason: "Forbidden" });
    const ok = await request(secured.app)
      .get("/metrics")
      .set({ Authorization: `Bearer ${secured.adminToken}` })
      .expect(200);
    expect(ok.text).toContain("eiaas_api_request_duration_seconds");
    // The scrape token reads every series; nothing else of the API.
    const scraped = await request(secured.app)
      .get("/metrics")
      .set({ Authorization: `Bearer ${SCRAPE_TOKEN}` })
      .expect(200);
    expect(scraped.text).toContain("eiaas_api_request_duration_seconds");
    await request(secured.app)
      .get(`${API_PREFIX}/tenants`)
      .set({ Authorization: `Bearer ${SCRAPE_TOKEN}` })
      .expect(401);
    // Health stays open either way.
    await request(secured.app).get("/readyz").expect(200);
    await request(secured.app).get("/livez").expect(200);
  });

  it("serves the series that name tenants only to an admin token or the scrape token", async () => {
    // As the scheduler's eiaas_tenant_usage and eiaas_tenant_quota (the demo's API process carries them).
    gauge<"tenant">({ name: "eiaas_test_tenant_usage", help: "test", labelNames: ["tenant"] }, { restricted: true }).set({ tenant: "acme-corp" }, 3);
    const open = await request(api.app).get("/metrics").expect(200);
    expect(open.text).toContain("eiaas_api_request_duration_seconds");
    expect(open.text).not.toContain("acme-corp");
    const tenantToken = await api.tenantToken("acme");
    expect(
      (
        await request(api.app)
          .get("/metrics")
          .set({ Authorization: `Bearer ${tenantToken}` })
          .expect(200)
      ).text,
    ).not.toContain("acme-corp");
    await request(api.app).get("/metrics").set({ Authorization: "Bearer not-a-token" }).expect(401);
    for (const token of [api.adminToken, SCRAPE_TOKEN]) {
      const full = await request(api.app)
        .get("/metrics")
        .set({ Authorization: `Bearer ${token}` })
        .expect(200);
      expect(full.text).toContain('eiaas_test_tenant_usage{tenant="acme-corp"} 3');
      expect(full.text).toContain("eiaas_api_request_duration_seconds");
    }
  });
});
